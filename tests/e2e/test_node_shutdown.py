"""Graceful node shutdown (KEP-2000) on kind: what clients see when a node's kubelet
ends its pods itself, without a deletion (graceproof.disruptions.node_shutdown).

Four replicas spread over kind's two workers; the load enters through the control
plane's NodePort, so the node that shuts down is never on the load's way in. The
worker holding most replicas hears logind's PrepareForShutdown(true); its kubelet
(shutdownGracePeriod 30 s, 10 s of it for critical pods: kind-config.yaml) ends its
pods, and the shutdown is then cancelled. Each proof prints, per pod the kubelet ended,
how long after the announcement its DisruptionTarget condition, its endpoint's change
and its container's end came (kubernetes#116965: endpoints not updated for such pods).

Needs nodes graceproof can run a command on (kind) with a D-Bus system bus: skipped
elsewhere, and where the nodes lack D-Bus (kindest/node images), naming the fix;
with the node image this repository builds (hack/kind-node-image.sh, which `make e2e
PROVIDER=kind` on hack/docker.sh's engine uses and says so with
GRACEPROOF_EXPECT_NODE_SHUTDOWN=1), a node that cannot shut down gracefully fails.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from graceproof.disruptions import NodeShutdown
from graceproof.disruptions.node_shutdown import NodeShutdownUnavailableError, check_node
from graceproof.hooks import NoHook, SleepHook
from graceproof.kube import Kube
from graceproof.model import Expected
from graceproof.node_shell import NodeShellUnavailableError, node_shell_for
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e


@pytest.fixture
def shutdown_ready(kube: Kube, nodes: list[str]) -> None:
    """Every schedulable node can shut down gracefully, or the proofs are skipped."""
    expected = os.environ.get("GRACEPROOF_EXPECT_NODE_SHUTDOWN") == "1"
    for name in nodes:
        try:
            check_node(node_shell_for(kube.core.read_node(name)), name)
        except (NodeShellUnavailableError, NodeShutdownUnavailableError) as exc:
            if expected:
                pytest.fail(f"GRACEPROOF_EXPECT_NODE_SHUTDOWN=1, but {exc}")
            pytest.skip(str(exc))


def _after(result: ScenarioResult, kind: str, pod: str, t0: float) -> float | None:
    times = [e.t for e in result.timeline if e.kind == kind and e.pod == pod and e.t >= t0]
    return min(times) - t0 if times else None


def _report(result: ScenarioResult) -> dict[str, list[float]]:
    """Print the proof and, per pod the kubelet ended, its steps after the announcement;
    return those delays by step."""
    announced = next(
        a["t"] for a in result.disruption.actions if a["action"] == "prepare_for_shutdown"
    )
    ended = [e for e in result.timeline if e.kind == "pod_disrupted" and e.t >= announced]
    steps: dict[str, list[float]] = {}
    print(result.headline())
    print(result.verdict.message)
    for e in ended:
        row = {
            kind: _after(result, kind, str(e.pod), announced)
            for kind in (
                "pod_disrupted",
                "endpoint_not_ready",
                "endpoint_removed",
                "container_terminated",
            )
        }
        not_ready = next(
            (
                x.detail
                for x in result.timeline
                if x.kind == "endpoint_not_ready" and x.pod == e.pod
            ),
            {},
        )
        print(
            f"  {e.pod}: {e.detail.get('reason')} / {e.detail.get('pod_reason')}; "
            + ", ".join(f"{k} +{v:.2f} s" for k, v in row.items() if v is not None)
            + f"; endpoint then serving={not_ready.get('serving')} "
            f"terminating={not_ready.get('terminating')}"
        )
        for k, v in row.items():
            if v is not None:
                steps.setdefault(k, []).append(v)
    for k, values in steps.items():
        print(f"  {k}: median +{statistics.median(values):.2f} s, max +{max(values):.2f} s")
    print(
        "  actions:",
        [(a["action"], round(a["t"] - announced, 2)) for a in result.disruption.actions],
    )
    return steps


@dataclass(frozen=True)
class DrainsOnSigterm(SampleApp):
    """The sample app that, on SIGTERM, keeps serving `drain_delay_s` more seconds while
    its readiness probe fails, then drains (its DRAIN_DELAY): an app that asks to be
    taken out of its endpoints itself."""

    drain_delay_s: int = 5

    def manifests(self, image: str) -> list[dict[str, Any]]:
        objects = super().manifests(image)
        for obj in objects:
            if obj["kind"] == "Deployment":
                app = obj["spec"]["template"]["spec"]["containers"][0]
                app["env"].append({"name": "DRAIN_DELAY", "value": str(self.drain_delay_s)})
        return objects


def _prove(
    prove: Prove, kube: Kube, workload: SampleApp, expected: Expected | None = None
) -> ScenarioResult:
    """The proof, checked: each pod announced ended by its kubelet's hand, and the node
    restored (Ready, its kubelet's lock, no Failed DaemonSet pod)."""
    result = prove(Scenario(workload, disruption=NodeShutdown(), expected=expected))
    actions = result.disruption.actions
    announced = {a["pod"] for a in actions if a["action"] == "shutdown_announced"}
    ended = {
        str(e.pod): e.detail.get("reason") for e in result.timeline if e.kind == "pod_disrupted"
    }
    assert len(announced) >= 2, actions
    assert all(ended.get(p) == "TerminationByKubelet" for p in announced), (announced, ended)
    node = next(a["node"] for a in actions if a["action"] == "prepare_for_shutdown")
    check_node(node_shell_for(kube.core.read_node(node)), node)
    failed = kube.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node},status.phase=Failed"
    ).items
    assert not [p.metadata.name for p in failed if p.metadata.namespace == "kube-system"]
    print(f"  failed outside the windows: {result.counts.failed - result.counts.failed_in_windows}")
    return result


def test_a_node_shutdown_without_a_hook_loses_requests(
    prove: Prove, kube: Kube, shutdown_ready: None
) -> None:
    result = _prove(prove, kube, SampleApp(NoHook(), replicas=4, spread=True, node_port=30080))
    _report(result)
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message


def _endpoint_outlived(steps: dict[str, list[float]], seconds: float) -> None:
    """Each ended pod's endpoint changed (not ready, or removed) no sooner than `seconds`
    after the announcement: it stayed ready while the pod held on."""
    changes = steps.get("endpoint_not_ready", []) + steps.get("endpoint_removed", [])
    assert changes and min(changes) >= seconds, steps


def test_a_preStop_sleep_does_not_keep_the_requests_of_a_node_shutdown(
    prove: Prove, kube: Kube, shutdown_ready: None
) -> None:
    """The finding: the kubelet tells the API nothing about the pod while its hook runs
    (it stays Ready, and so does its endpoint), and the race comes after the hook, as
    without one."""
    hook = SleepHook(5)
    result = _prove(
        prove, kube, SampleApp(hook, replicas=4, spread=True, node_port=30081), expected="errors"
    )
    steps = _report(result)
    _endpoint_outlived(steps, hook.sleep_seconds)
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message


def test_an_app_failing_readiness_on_sigterm_does_not_keep_them_either(
    prove: Prove, kube: Kube, shutdown_ready: None
) -> None:
    """Nor does an app that fails its readiness probe on SIGTERM and serves on for 5 s:
    the kubelet does not post that readiness until the pod has ended."""
    app = DrainsOnSigterm(NoHook(), replicas=4, spread=True, shutdown_mode="drain", node_port=30082)
    result = _prove(prove, kube, app, expected="errors")
    steps = _report(result)
    _endpoint_outlived(steps, app.drain_delay_s)
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message
