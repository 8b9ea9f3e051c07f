"""terminationGracePeriodSeconds beyond the hook: the app's time to drain after
SIGTERM. Weakened: cut to the hook's length, so SIGKILL follows the hook at once (the
kubelet adds a one-time 2 s)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from graceproof.explain.protections.base import Protection, containers_of, with_workload
from graceproof.plan import hook_seconds
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved, grace_seconds

__all__ = ["GracePeriod", "hook_length", "own_grace"]

# The least grace period cut to: 0 in a pod spec means "kill at once", which is
# another behaviour (a force delete), not a shorter grace.
LEAST_GRACE_S = 1


def hook_length(resolved: Resolved) -> float | None:
    """The longest preStop hook of the workload's containers in seconds (0 without
    any), or None when a hook's form does not say how long it holds (httpGet, exec
    without a sleep)."""
    lengths = [0.0]
    for c in containers_of(resolved.workload.body):
        pre_stop = (c.get("lifecycle") or {}).get("preStop")
        if pre_stop:
            seconds = hook_seconds(pre_stop)
            if seconds is None:
                return None
            lengths.append(seconds)
    return max(lengths)


def own_grace(resolved: Resolved) -> int:
    """The workload's terminationGracePeriodSeconds (Kubernetes' 30 s when unset)."""
    return grace_seconds(_pod_spec(resolved))


def _pod_spec(resolved: Resolved) -> dict[str, Any]:
    template = (resolved.workload.body.get("spec") or {}).get("template") or {}
    spec: dict[str, Any] = template.get("spec") or {}
    return spec


class GracePeriod(Protection):
    name: ClassVar[str] = "grace-period"
    title: ClassVar[str] = "terminationGracePeriodSeconds"
    # Not delete-grace: it overrides the grace period itself.
    exercised_by: ClassVar[tuple[str, ...]] = (
        "delete-one-by-one",
        "rollout-restart",
        "scale-down",
        "drain-node",
        "evict",
        "rolling-update",
    )
    missing: ClassVar[str] = (
        "the grace period ends with the hook, so an app still draining after SIGTERM "
        "is killed with requests in flight"
    )

    def _cut(self, resolved: Resolved) -> int | None:
        length = hook_length(resolved)
        return None if length is None else max(LEAST_GRACE_S, math.ceil(length))

    def present(self, resolved: Resolved) -> bool:
        cut = self._cut(resolved)
        return cut is not None and grace_seconds(_pod_spec(resolved)) > cut

    def absent(self, resolved: Resolved) -> str:
        if hook_length(resolved) is None:
            return (
                "not derived: the preStop hook's form does not say how long it holds "
                "(httpGet, or exec without a sleep), so there is no length to cut the "
                "grace period to"
            )
        return f"missing: {self.missing}"

    def weaken(self, resolved: Resolved) -> tuple[list[Doc], str]:
        cut = self._cut(resolved)
        was = grace_seconds(_pod_spec(resolved))

        def change(body: dict[str, Any]) -> None:
            template = body.setdefault("spec", {}).setdefault("template", {})
            template.setdefault("spec", {})["terminationGracePeriodSeconds"] = cut

        return with_workload(resolved, change), f"{was} s cut to {cut} s"
