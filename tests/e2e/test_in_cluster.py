"""The load from inside the cluster: a Locust master and 2 workers as pods, loading the
Service's ClusterIP (no NodePort on 127.0.0.1 is used or even made), on the
existing-cluster provider as for a remote cluster. Every record comes back to the host
through Locust's own messages, and none is lost; the pods' clocks are read against
the host's and stated with their uncertainty."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from graceproof.disruptions import DrainNode
from graceproof.errors import WorkloadStartError
from graceproof.hooks import ExecHook, NoHook, SleepHook
from graceproof.kube import Kube
from graceproof.load import LoadSettings
from graceproof.placement import InCluster
from graceproof.podsecurity import ENFORCE_LABEL, enforce_restricted
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp
from graceproof.workloads.base import DeployContext
from graceproof.workloads.sample import Pdb

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e

LOAD = LoadSettings(users=10, timeout_s=2.0)


def _report(result: ScenarioResult) -> str:
    p = result.load["placement"]
    return (
        f"{result.headline()}; load pods on {p['nodes']}, records {p['records']}, "
        f"clock {p['clock']}"
    )


def _check_complete(result: ScenarioResult) -> None:
    placement = result.load["placement"]
    records = placement["records"]
    assert placement["kind"] == "cluster" and placement["workers"] == 2
    # Every record the workers made reached the host: the counts agree, none lost.
    assert records["on_host"] == records["made"] == records["received"] == result.counts.total
    assert records["lost"] == 0 and records["not_done"] == []
    # Each worker's clock was read against the host's, with its uncertainty.
    clock = placement["clock"]
    # The workers make the records: theirs are the clocks that matter.
    assert set(clock["pods"]) == {"gp-load-worker-0", "gp-load-worker-1"}
    assert 0 < clock["residual_uncertainty_s"] < 1.0, clock


def test_in_cluster_load_proves_the_hook_with_no_request_lost(
    prove: Prove, load_image: str, kube: Kube, namespace: str
) -> None:
    # Under Pod Security "restricted", as a team's shared cluster may enforce it: the
    # sample app (its hook writes no file) and the Locust pods meet it, or they would
    # not be admitted.
    enforce_restricted(kube, namespace)
    app = SampleApp(SleepHook(5), replicas=2, node_port=None)
    result = prove(Scenario(app, load=LOAD, placement=InCluster(workers=2, image=load_image)))
    print(_report(result))
    labels = kube.core.read_namespace(namespace).metadata.labels
    assert labels[ENFORCE_LABEL] == "restricted"
    assert result.counts.failed == 0 and result.counts.in_windows > 0, result.verdict.message
    assert result.verdict.passed
    _check_complete(result)


def test_in_cluster_load_sees_the_no_hook_control_fail(prove: Prove, load_image: str) -> None:
    app = SampleApp(NoHook(), replicas=2, node_port=None)
    result = prove(Scenario(app, load=LOAD, placement=InCluster(workers=2, image=load_image)))
    print(_report(result))
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message
    _check_complete(result)


def test_in_cluster_load_keeps_off_the_node_a_drain_empties(
    prove: Prove, load_image: str, nodes: list[str]
) -> None:
    """A drain under an in-cluster load: the load's pods are placed off the node the
    drain will empty (said in the result), so the proof disrupts only the workload."""
    app = SampleApp(
        SleepHook(5), replicas=3, pdb=Pdb(max_unavailable=1), spread=True, node_port=None
    )
    result = prove(
        Scenario(
            app,
            disruption=DrainNode(),
            load=LOAD,
            placement=InCluster(workers=2, image=load_image),
        )
    )
    print(_report(result))
    drained = next(a["node"] for a in result.disruption.actions if a["action"] == "cordon")
    placement = result.load["placement"]
    assert placement["avoided_nodes"] == [drained]
    assert drained not in placement["nodes"].values(), placement["nodes"]
    assert result.counts.failed == 0 and result.counts.in_windows > 0, result.verdict.message
    assert result.verdict.passed
    _check_complete(result)


def test_a_workload_that_needs_more_than_the_namespace_allows_is_refused_with_the_reason(
    kube: Kube, namespace: str, workload_image: str
) -> None:
    # The exec hook writes /stop.log on the root filesystem: the app keeps its image's
    # root user, which "restricted" does not admit.
    enforce_restricted(kube, namespace)
    app = SampleApp(ExecHook(3), replicas=1, node_port=None)
    started = time.monotonic()
    with pytest.raises(WorkloadStartError) as refused:
        app.deploy(DeployContext(kube, namespace, workload_image))
    message = str(refused.value)
    assert "cannot create its pods: replicaset/" in message, message
    assert 'violates PodSecurity "restricted' in message, message
    assert "To fix: the namespace enforces a Pod Security standard" in message
    assert time.monotonic() - started < 60  # at once, not at the readiness timeout
