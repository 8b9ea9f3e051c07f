"""Prove a workload with its negative control: the same manifests with every preStop
hook removed, under the same load and disruption, each in a namespace of its own.

The hooked run is judged on its own (zero failures, with its bound). The control is
reported plainly: when it shows no failures either, the run says that the app's own
shutdown is enough, or that the load missed the terminations; it never reads as a
silent pass. A workload without a preStop hook runs no control (there is nothing to
remove), and no message speaks of a hook it does not have.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graceproof.budget import Budget
from graceproof.disruptions import Disruption
from graceproof.ingress import IngressController, ThroughIngress
from graceproof.kube import Kube
from graceproof.load import LoadSettings
from graceproof.namespaces import test_namespace, wait_namespaces_gone
from graceproof.placement import OnHost, Placement
from graceproof.result import ClusterInfo, ScenarioResult
from graceproof.scenario import Scenario, run_scenario
from graceproof.shutdown import hooks_of
from graceproof.workloads.base import Workload
from graceproof.workloads.manifests import ManifestWorkload

__all__ = ["ProofOutcome", "control_statement", "outcome_json", "prove_with_control"]

log = logging.getLogger(__name__)


def control_statement(control: ScenarioResult, hooked: ScenarioResult) -> str:
    """What the negative control shows beside the hooked run, in one plain sentence."""
    c, h = control.counts, hooked.counts
    went = f" ({control.shutdown})" if control.shutdown else ""
    head = (
        f"negative control: without the preStop hook, {c.failed_in_windows} of "
        f"{c.in_windows} requests inside termination windows failed{went}"
    )
    # On the counts, not the verdict: a budget can pass a run that lost requests, and a
    # latency budget can fail one that lost none.
    if c.failed_in_windows and not h.failed_in_windows:
        return f"{head}; with it, none did: the hook is what keeps them"
    if c.failed_in_windows:
        return (
            f"{head}; with it, {h.failed_in_windows} of {h.in_windows} failed: the hook "
            "does not keep them all"
        )
    return (
        f"{head}: the app's own shutdown is enough here, or the load missed the "
        "terminations. This run does not show what the hook is worth."
    )


@dataclass(frozen=True)
class ProofOutcome:
    hooked: ScenarioResult
    control: ScenarioResult | None
    # Why no control ran, when none did.
    no_control: str = "no negative control was run (--no-control)"

    @property
    def proven(self) -> bool:
        """The hooked run passed (its own verdict: zero failures, load in the windows)."""
        return self.hooked.verdict.passed

    def lines(self) -> list[str]:
        bound = self.hooked.stats.get("overall")
        verdict = "PROVEN" if self.proven else "NOT PROVEN"
        lines = [f"{verdict}: {self.hooked.verdict.message}"]
        hooks = hooks_of(self.hooked.parameters)
        if bound is not None:
            lines.append(f"error rate{' with the hook' if hooks else ''}: {bound.describe()}")
        if self.hooked.counts.classes:
            lines.append(f"failures by where they failed: {self.hooked.counts.describe_classes()}")
        if self.hooked.shutdown:
            lines.append(f"shutdown: {self.hooked.shutdown}")
        lag = self.hooked.propagation
        if lag is not None and lag.lags:
            # The hooked run keeps each pod answering: its last requests time the path.
            lines.append(lag.describe())
        if self.control is not None:
            lines.append(control_statement(self.control, self.hooked))
        else:
            lines.append(self.no_control)
        return lines


def _summary(r: ScenarioResult, out_dir: Path) -> dict[str, Any]:
    bound = r.stats.get("overall")
    return {
        "scenario_id": r.scenario_id,
        "passed": r.verdict.passed,
        "expected": r.verdict.expected,
        "message": r.verdict.message,
        "counts": r.counts.to_dict(),
        "bound": None if bound is None else {**bound.to_dict(), "text": bound.describe()},
        "budget": None if r.budget is None else r.budget.to_dict(),
        "shutdown": r.shutdown,
        "result": str(out_dir / f"{r.file_stem}.json"),
    }


def outcome_json(outcome: ProofOutcome, out_dir: Path, summary: Path) -> dict[str, Any]:
    """What `graceproof prove -o json` prints: the verdict and its figures, the
    control's (or why none ran), and where the report is."""
    return {
        "proven": outcome.proven,
        "verdict": "PROVEN" if outcome.proven else "NOT PROVEN",
        "hooked": _summary(outcome.hooked, out_dir),
        "control": None if outcome.control is None else _summary(outcome.control, out_dir),
        "control_statement": (
            outcome.no_control
            if outcome.control is None
            else control_statement(outcome.control, outcome.hooked)
        ),
        "report": str(summary),
    }


def prove_with_control(
    kube: Kube,
    workload: ManifestWorkload,
    *,
    disruption: Disruption,
    load: LoadSettings,
    run_id: str,
    cluster: ClusterInfo,
    out_dir: Path,
    control: bool = True,
    budget: Budget | None = None,
    ingress: IngressController | None = None,
    placement: Placement | None = None,
    count_retryable: bool = True,
    wait_deleted: bool = True,
) -> ProofOutcome:
    """Run the control (unless `control` is False), then the hooked workload; write
    each result JSON into `out_dir` as soon as it is known. With `ingress`, both run
    through that controller (`ThroughIngress`).

    Each namespace is deleted as soon as its run is judged, without waiting for it to
    be gone: the hooked run does not wait for the control's. With `wait_deleted`, this
    waits for all of them (bounded) before it returns; without, the caller does
    (`graceproof prove` after it printed the verdict: `reap_run_namespaces`)."""
    # Without a hook there is nothing to remove: a "control" would be the workload itself,
    # and its result would credit a hook that does not exist.
    control = control and workload.resolved.hooks > 0
    manifests = [workload.without_hooks(), workload] if control else [workload]
    # Through the controller, when one is given: its traffic path is the one proven.
    runs: list[Workload] = [m if ingress is None else ThroughIngress(m, ingress) for m in manifests]
    results: list[ScenarioResult] = []
    made: list[str] = []
    for w in runs:
        scenario = Scenario(
            w,
            disruption=disruption,
            load=load,
            budget=budget,
            placement=placement or OnHost(),
            count_retryable=count_retryable,
        )
        t0 = time.monotonic()
        with test_namespace(kube, run_id, w.label, lambda: False, wait=False) as namespace:
            made.append(namespace)
            result = run_scenario(
                kube,
                namespace,
                scenario,
                image="",
                cluster=cluster,
                out_dir=out_dir,
                namespace_s=time.monotonic() - t0,
            )
        path = result.write_json(out_dir)
        log.info("result: %s", path)
        results.append(result)
    # Only after every run went well: on an error (Ctrl-C too) the namespaces are being
    # deleted already, and a wait here would delay that error or, timing out, replace it.
    if wait_deleted and made:
        wait_namespaces_gone(kube, made)
    if control:
        return ProofOutcome(hooked=results[-1], control=results[0])
    if workload.resolved.hooks == 0:
        why = (
            f"no negative control: {workload.resolved.workload.ref} has no preStop hook, so "
            "there is none to remove; this proves the app's own shutdown"
        )
        return ProofOutcome(hooked=results[-1], control=None, no_control=why)
    return ProofOutcome(hooked=results[-1], control=None)
