"""How the disrupted pods went down, read from a result's timeline, in one sentence.

A verdict says how many requests failed; this says what the pods did meanwhile, from
what any workload gives the API: when graceproof deleted each pod, when its container
ended and with which exit code. From those alone it tells apart

- an app that ignored SIGTERM: its container ran until the grace period ran out and
  the kubelet killed it (exit 137, SIGKILL), whatever the verdict;
- an app without a preStop hook that drained by itself: it kept running for seconds
  after SIGTERM (which, without a hook, comes at once);
- an app that exited at once;
- a hooked pod, with how long it took from deletion to exit.

The words never credit a hook the workload does not have: `hooks` is the workload's
own count of preStop hooks.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.model import TerminationWindow, TimelineEvent

__all__ = ["PodEnd", "hooks_of", "pod_ends", "shutdown_sentence"]

SIGKILL_EXIT = 128 + 9
# Without a hook the kubelet sends SIGTERM at once: an app that still ran this long after
# its deletion kept serving on its own. The end is when the watch delivered the
# container's termination, which lags the exit by the kubelet's status sync (about 1 s,
# more on a busy node): an app that exits at once was seen 0.2 to 1.5 s after deletion.
SELF_DRAIN_S = 3.0


@dataclass(frozen=True)
class PodEnd:
    pod: str
    lived_s: float  # from graceproof's delete call to the container's end, as observed
    exit_code: int | None
    reason: str | None  # the kubelet's: Completed, Error, OOMKilled

    @property
    def killed(self) -> bool:
        """Ended by SIGKILL, not by an OOM kill: the grace period ran out."""
        return self.exit_code == SIGKILL_EXIT and self.reason != "OOMKilled"


def pod_ends(
    windows: Sequence[TerminationWindow], timeline: Sequence[TimelineEvent]
) -> list[PodEnd]:
    """One PodEnd per deleted pod whose container end was seen (the last container to
    end: the one that held the pod)."""
    ends: list[PodEnd] = []
    for w in windows:
        ended = [
            e
            for e in timeline
            if e.kind == "container_terminated" and e.pod == w.pod and e.t >= w.start
        ]
        if not ended:
            continue
        last = max(ended, key=lambda e: e.t)
        code = last.detail.get("exit_code")
        ends.append(
            PodEnd(
                w.pod,
                last.t - w.start,
                code if isinstance(code, int) else None,
                last.detail.get("reason"),
            )
        )
    return ends


def hooks_of(parameters: dict[str, Any]) -> int | None:
    """The workload's preStop hook count, from a result's parameters; None when they do
    not say (a workload kind that records no hooks): then no sentence speaks of one.
    Never from the variant's label ("team-service", "no-hook-via-traefik"), which is
    no evidence of a hook."""
    workload = parameters.get("workload") or {}
    nested = workload.get("workload")  # ThroughIngress wraps the workload's parameters
    inner: dict[str, Any] = nested if isinstance(nested, dict) else workload
    hooks = inner.get("prestop_hooks")
    if isinstance(hooks, int):  # a team's manifests; their derived control has none
        return 0 if inner.get("control") else hooks
    hook = inner.get("hook")
    if isinstance(hook, dict) and hook.get("type"):  # the sample app's PreStopHook
        holds_nothing = hook["type"] == "NoHook" or (
            hook["type"] == "SleepHook" and not hook.get("sleep_seconds")
        )
        return 0 if holds_nothing else 1
    return None


def shutdown_sentence(
    ends: Sequence[PodEnd], hooks: int | None, deleted: int | None = None
) -> str | None:
    """What the pods did between their deletion and their end, or None when no end was
    seen (e.g. a disruption that deleted nothing). `deleted`: how many pods were
    deleted (default: those whose end was seen)."""
    if not ends:
        return None
    n = max(deleted or 0, len(ends))
    lived = _seconds([e.lived_s for e in ends])
    killed = [e for e in ends if e.killed]
    if killed:
        when = _seconds([e.lived_s for e in killed])
        if hooks:
            return (
                f"{len(killed)} of {n} pods were killed at the end of their grace period "
                f"(exit 137, {when} after deletion): the preStop hook and the app's shutdown "
                "took longer than the grace period allows"
            )
        return (
            f"SIGTERM did not stop the app: {len(killed)} of {n} pods kept running until "
            f"their grace period ran out and were killed (exit 137, {when} after deletion)"
        )
    codes = _codes(ends)
    if hooks:
        return f"with the preStop hook, each pod ran {lived} from deletion to exit ({codes})"
    if hooks == 0 and statistics.median(e.lived_s for e in ends) >= SELF_DRAIN_S:
        return (
            f"no preStop hook: the app's own shutdown kept each pod running {lived} after "
            f"SIGTERM ({codes})"
        )
    if hooks == 0:
        return f"no preStop hook: the app exited {lived} after SIGTERM ({codes})"
    return f"each pod ran {lived} from deletion to exit ({codes})"


def _seconds(values: Sequence[float]) -> str:
    lo, hi = min(values), max(values)
    if hi - lo < 0.5:
        return f"about {statistics.median(values):.1f} s"
    return f"{lo:.1f} to {hi:.1f} s"


def _codes(ends: Sequence[PodEnd]) -> str:
    codes = sorted({e.exit_code for e in ends if e.exit_code is not None})
    if not codes:
        return "exit code not reported"
    return "exit code " + ", ".join(str(c) for c in codes)
