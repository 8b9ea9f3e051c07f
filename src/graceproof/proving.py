"""Prove a workload with its negative control: the same manifests with every preStop
hook removed, under the same load and disruption, each in a namespace of its own.

The hooked run is judged on its own (zero failures, with its bound). The control is
reported plainly: when it shows no failures either, the run says that the app drains
well enough without the hook, or that the load missed the terminations; it never
reads as a silent pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from graceproof.budget import Budget
from graceproof.disruptions import Disruption
from graceproof.ingress import IngressController, ThroughIngress
from graceproof.kube import Kube
from graceproof.load import LoadSettings
from graceproof.namespaces import test_namespace
from graceproof.placement import OnHost, Placement
from graceproof.result import ClusterInfo, ScenarioResult
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads.base import Workload
from graceproof.workloads.manifests import ManifestWorkload

__all__ = ["ProofOutcome", "control_statement", "prove_with_control"]

log = logging.getLogger(__name__)


def control_statement(control: ScenarioResult) -> str:
    """What the negative control shows, in one plain sentence."""
    c = control.counts
    if c.failed_in_windows:
        return (
            f"negative control: without the preStop hook, {c.failed_in_windows} of "
            f"{c.in_windows} requests inside termination windows failed: the hook is what "
            "keeps them"
        )
    return (
        f"negative control: without the preStop hook, 0 of {c.in_windows} requests inside "
        "termination windows failed: the app drains well enough without the hook, or the "
        "load missed the terminations. This run does not show what the hook is worth."
    )


@dataclass(frozen=True)
class ProofOutcome:
    hooked: ScenarioResult
    control: ScenarioResult | None

    @property
    def proven(self) -> bool:
        """The hooked run passed (its own verdict: zero failures, load in the windows)."""
        return self.hooked.verdict.passed

    def lines(self) -> list[str]:
        bound = self.hooked.stats.get("overall")
        verdict = "PROVEN" if self.proven else "NOT PROVEN"
        lines = [f"{verdict}: {self.hooked.verdict.message}"]
        if bound is not None:
            lines.append(f"error rate with the hook: {bound.describe()}")
        lag = self.hooked.propagation
        if lag is not None and lag.lags:
            # The hooked run keeps each pod answering: its last requests time the path.
            lines.append(lag.describe())
        if self.control is not None:
            lines.append(control_statement(self.control))
        else:
            lines.append("no negative control was run (--no-control)")
        return lines


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
) -> ProofOutcome:
    """Run the control (unless `control` is False), then the hooked workload; write
    each result JSON into `out_dir` as soon as it is known. With `ingress`, both run
    through that controller (`ThroughIngress`)."""
    manifests = [workload.without_hooks(), workload] if control else [workload]
    # Through the controller, when one is given: its traffic path is the one proven.
    runs: list[Workload] = [m if ingress is None else ThroughIngress(m, ingress) for m in manifests]
    results: list[ScenarioResult] = []
    for w in runs:
        scenario = Scenario(
            w, disruption=disruption, load=load, budget=budget, placement=placement or OnHost()
        )
        with test_namespace(kube, run_id, w.label, lambda: False) as namespace:
            result = run_scenario(
                kube, namespace, scenario, image="", cluster=cluster, out_dir=out_dir
            )
        path = result.write_json(out_dir)
        log.info("result: %s", path)
        results.append(result)
    return ProofOutcome(hooked=results[-1], control=results[0] if control else None)
