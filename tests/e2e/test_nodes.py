"""Where production terminates pods, on a cluster of several nodes: node drains through
the Eviction API with a PodDisruptionBudget, rolling updates with a chosen strategy,
and a force delete that no hook can save.

Each proof prints its requests, failures, requests inside the termination windows,
the bound on the error rate, and the eviction attempts the API refused (429).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from graceproof.disruptions import DeleteWithGrace, DrainNode, RollingUpdate
from graceproof.errors import EvictionRefusedError, WorkloadSpecError
from graceproof.hooks import NoHook, SleepHook
from graceproof.kube import Kube
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import DeployContext, SampleApp, Target
from graceproof.workloads.sample import Pdb

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e


def _report(result: ScenarioResult) -> str:
    refused = sum(
        1 for a in result.disruption.actions if a["action"] == "evict" and a.get("status") == 429
    )
    return f"{result.headline()}; evictions refused (429): {refused}; {result.verdict.message}"


@contextmanager
def _cordoned(kube: Kube, names: list[str]) -> Iterator[None]:
    for name in names:
        kube.core.patch_node(name, {"spec": {"unschedulable": True}})
    try:
        yield
    finally:
        for name in names:
            kube.core.patch_node(name, {"spec": {"unschedulable": False}})


@dataclass(frozen=True)
class OnOneNode(SampleApp):
    """The sample app with every replica on `node`: the other nodes are cordoned while
    it deploys, and uncordoned once it is available, so that replacements of a drain
    have somewhere to go. (A node selector would pin the replacements too.)"""

    node: str = ""

    def deploy(self, ctx: DeployContext) -> Target:
        others = [n.metadata.name for n in ctx.kube.core.list_node().items]
        with _cordoned(ctx.kube, [n for n in others if n != self.node]):
            return super().deploy(ctx)


def _nodes_of(result: ScenarioResult) -> dict[str, str]:
    """Pod -> node, from the timeline's pod_scheduled events."""
    return {
        str(e.pod): str(e.detail["node"])
        for e in result.timeline
        if e.kind == "pod_scheduled" and e.pod
    }


def test_drain_with_a_pdb_and_a_hook_loses_nothing(prove: Prove, nodes: list[str]) -> None:
    """Three replicas spread over the nodes, at most one unavailable (the budget), a
    preStop sleep: the drain evicts the pods of one node; the API refuses an eviction
    (429) while the budget has no disruption left, and no request fails."""
    result = prove(
        Scenario(
            SampleApp(
                SleepHook(5), replicas=3, pdb=Pdb(max_unavailable=1), spread=True, node_port=30080
            ),
            disruption=DrainNode(),
        )
    )
    print(_report(result))
    actions = [a["action"] for a in result.disruption.actions]
    assert actions[0] == "cordon" and actions[-1] == "uncordon", actions
    evictions = [a for a in result.disruption.actions if a["action"] == "evict"]
    assert {a["status"] for a in evictions} <= {201, 429}
    assert sum(a["status"] == 201 for a in evictions) == result.counts.windows >= 1
    assert result.counts.failed == 0, result.verdict.message
    assert result.counts.in_windows > 0 and result.verdict.passed
    # The replacements ran on another node than the one drained.
    drained = next(a["node"] for a in result.disruption.actions if a["action"] == "cordon")
    placed = _nodes_of(result)
    evicted = {a["pod"] for a in evictions if a["status"] == 201}
    replacements = [p for p in placed if p not in evicted and p not in _originals(result)]
    assert replacements and all(placed[p] != drained for p in replacements), placed


def _originals(result: ScenarioResult) -> set[str]:
    """Pods that were Ready before the disruption started."""
    return {
        str(e.pod)
        for e in result.timeline
        if e.kind == "pod_ready" and e.pod and e.t < result.disruption.started
    }


def test_a_drain_of_the_node_holding_every_replica_without_a_hook_fails(
    prove: Prove, nodes: list[str]
) -> None:
    node = nodes[0]
    result = prove(
        Scenario(
            OnOneNode(NoHook(), replicas=2, node_port=30081, node=node),
            disruption=DrainNode(node=node),
        )
    )
    print(_report(result))
    placed = _nodes_of(result)
    assert {placed[p] for p in _originals(result)} == {node}, placed
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message


def test_a_rolling_update_with_max_unavailable_zero_and_a_hook_loses_nothing(
    prove: Prove,
) -> None:
    result = prove(
        Scenario(
            SampleApp(SleepHook(5), replicas=2, node_port=30082),
            disruption=RollingUpdate(max_surge=1, max_unavailable=0),
        )
    )
    print(_report(result))
    assert result.counts.windows == 2
    assert result.counts.failed == 0, result.verdict.message
    assert result.counts.in_windows > 0 and result.verdict.passed


def test_one_replica_with_max_unavailable_one_is_an_outage_without_a_hook(
    prove: Prove,
) -> None:
    """The old pod goes before its replacement exists, and exits at once: for the
    replacement's start-up no pod serves (the known outage)."""
    result = prove(
        Scenario(
            SampleApp(NoHook(), replicas=1, node_port=30083),
            disruption=RollingUpdate(max_surge=0, max_unavailable=1),
        )
    )
    print(_report(result))
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message
    assert result.measures is not None and result.measures.unavailable_s > 0.5


def _first(result: ScenarioResult, kind: str, pods: set[str] | None = None) -> float:
    return min(e.t for e in result.timeline if e.kind == kind and (pods is None or e.pod in pods))


def test_one_replica_with_max_unavailable_one_is_bridged_by_a_hook(prove: Prove) -> None:
    """Measured, against the issue's expectation of an outage: with a preStop sleep
    longer than the replacement's start-up, nothing fails. The old pod's endpoint turns
    terminating (ready false, serving true) and, with no ready endpoint left,
    kube-proxy keeps sending to serving terminating endpoints (its fallback since
    Kubernetes 1.28), until the replacement is Ready."""
    result = prove(
        Scenario(
            SampleApp(SleepHook(5), replicas=1, node_port=30084),
            disruption=RollingUpdate(max_surge=0, max_unavailable=1),
        )
    )
    print(_report(result))
    old = _originals(result)
    new = {str(e.pod) for e in result.timeline if e.kind == "pod_ready"} - old
    # The replacement became Ready only after the old pod began terminating...
    assert _first(result, "pod_deleted", old) < _first(result, "pod_ready", new)
    # ...and every request in between was answered, by the terminating pod.
    assert result.counts.failed == 0 and result.counts.in_windows > 0, result.verdict.message
    assert result.verdict.passed


def test_a_force_delete_cuts_the_hook_to_the_kubelets_minimum(prove: Prove) -> None:
    """Measured, against the issue's expectation: grace 0 removes the pod object at once
    and the kubelet stops the 5 s hook after about a second (its minimum grace), then
    sends SIGTERM. Here kube-proxy drops the endpoint within that second, so no request
    fails; a path that lags more (an ingress, a cloud load balancer) would lose some."""
    # Kept to show the cut, not to judge the requests: whether any fails depends on the
    # path's lag against the kubelet's minimum grace (informative).
    result = prove(
        Scenario(
            SampleApp(SleepHook(5), replicas=2, node_port=30085),
            disruption=DeleteWithGrace(grace_seconds=0),
            expected="informative",
        )
    )
    assert result.verdict.expected == "informative" and result.verdict.passed
    print(_report(result))
    deleted = {str(e.pod): e.t for e in result.timeline if e.kind == "pod_deleted"}
    sigterm = {str(e.pod): e.t for e in result.timeline if e.kind == "sigterm"}
    assert len(deleted) == 2 and set(sigterm) == set(deleted), result.timeline
    cut = {p: sigterm[p] - deleted[p] for p in deleted}
    print(f"SIGTERM after the force delete (the 5 s hook cut short): {cut}")
    assert all(v < 2.5 for v in cut.values()), cut
    assert result.counts.in_windows > 0


def test_a_drain_a_budget_never_allows_stops_names_the_budget_and_uncordons(
    prove: Prove, kube: Kube, nodes: list[str]
) -> None:
    """One replica and minAvailable 1: the Eviction API refuses (429) for as long as it
    is asked. The drain stops after its timeout, names the budget and its status, and
    leaves the node schedulable again."""
    with pytest.raises(EvictionRefusedError) as info:
        prove(
            Scenario(
                SampleApp(NoHook(), replicas=1, pdb=Pdb(min_available=1), node_port=30086),
                disruption=DrainNode(timeout_s=5),
            )
        )
    message = str(info.value)
    print(message)
    assert "PodDisruptionBudget web" in message and "disruptionsAllowed=0" in message
    assert not any(n.spec.unschedulable for n in kube.core.list_node().items)


def test_an_unknown_node_is_refused_naming_the_nodes(prove: Prove, nodes: list[str]) -> None:
    with pytest.raises(WorkloadSpecError) as info:
        prove(
            Scenario(
                SampleApp(NoHook(), replicas=1, node_port=30087),
                disruption=DrainNode(node="no-such-node"),
            )
        )
    assert "no-such-node" in str(info.value) and nodes[0] in str(info.value)
