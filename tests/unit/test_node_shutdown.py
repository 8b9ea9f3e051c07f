"""node-shutdown's pure parts: the node's shell, the kubelet's lock, the pod that no one
deletes (its pod_disrupted, its window, its end). The shutdown itself runs on kind
(tests/e2e/test_node_shutdown.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from kubernetes.client import V1ObjectMeta, V1Pod, V1PodCondition, V1PodStatus

from graceproof.action_log import DisruptionRecord
from graceproof.disruptions import DISRUPTIONS, NodeShutdown
from graceproof.disruptions.base import wait_all_gone
from graceproof.disruptions.node_shutdown import (
    NodeShutdownUnavailableError,
    _Shutdown,
    check_node,
    kubelet_holds_lock,
)
from graceproof.errors import CommandFailedError, WorkloadSpecError
from graceproof.kube import Kube
from graceproof.model import TimelineEvent
from graceproof.node_shell import KindNodeShell, NodeShellUnavailableError, node_shell_for
from graceproof.timeline_trackers import PodTracker
from graceproof.windows import STARTS_TERMINATION, termination_windows

KUBELET_LOCK = [
    "shutdown",
    "kubelet",
    "Kubelet needs time to handle node shutdown",
    "delay",
    0,
    780,
]


def listed(*locks: list[Any]) -> str:
    """busctl --json=short's answer to ListInhibitors."""
    return json.dumps({"type": "a(ssssuu)", "data": [list(locks)]})


def node(name: str, provider_id: str | None) -> Any:
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name), spec=SimpleNamespace(provider_id=provider_id)
    )


class Shell:
    """A node's shell that answers from a table, and keeps what it ran."""

    node = "gp-worker"

    def __init__(self, answers: dict[str, str | Exception]) -> None:
        self.answers = answers
        self.ran: list[list[str]] = []

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> str:
        self.ran.append(list(argv))
        for word, answer in self.answers.items():
            if word in argv:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise AssertionError(f"unexpected command {argv}")


def test_the_kubelets_delay_lock_on_shutdown_is_found() -> None:
    assert kubelet_holds_lock(listed(KUBELET_LOCK))
    assert kubelet_holds_lock(listed(["sleep:shutdown", *KUBELET_LOCK[1:]]))


@pytest.mark.parametrize(
    "lock",
    [
        ["shutdown", "kubelet", "why", "block", 0, 1],  # block, not delay
        ["sleep", "kubelet", "why", "delay", 0, 1],  # sleep, not shutdown
        ["shutdown", "ModemManager", "why", "delay", 0, 1],  # someone else's
    ],
)
def test_other_locks_are_not_the_kubelets(lock: list[Any]) -> None:
    assert not kubelet_holds_lock(listed(lock))
    assert not kubelet_holds_lock(listed())


def test_a_kind_node_is_reached_with_its_runtimes_exec() -> None:
    ran: list[list[str]] = []

    def runner(argv: Sequence[str], timeout: float) -> str:
        ran.append(list(argv))
        return "ok"

    shell = node_shell_for(node("gp-worker", "kind://podman/gp/gp-worker"), runner)
    assert shell == KindNodeShell(node="gp-worker", runtime="podman", runner=runner)
    assert shell.run(["busctl", "status"]) == "ok"
    assert ran == [["podman", "exec", "gp-worker", "busctl", "status"]]


@pytest.mark.parametrize("provider_id", [None, "gce://p/z/n1", "kind://docker/only-two"])
def test_a_node_without_a_way_in_is_refused_naming_it(provider_id: str | None) -> None:
    with pytest.raises(NodeShellUnavailableError) as err:
        node_shell_for(node("n1", provider_id))
    assert "node n1" in str(err.value)
    assert (provider_id or "empty") in str(err.value)
    assert "kind cluster" in str(err.value)


def test_a_node_without_a_system_bus_is_refused_with_the_image_fix() -> None:
    missing = CommandFailedError(
        ["busctl"], 1, "Failed to connect to bus: No such file or directory\n"
    )
    with pytest.raises(NodeShutdownUnavailableError) as err:
        check_node(Shell({"ListInhibitors": missing}), "gp-worker")
    message = str(err.value)
    assert "node gp-worker" in message
    assert "Failed to connect to bus" in message
    assert "apt-get install -y dbus" in message


def test_a_kubelet_without_its_lock_is_refused_with_the_config_fix() -> None:
    with pytest.raises(NodeShutdownUnavailableError) as err:
        check_node(Shell({"ListInhibitors": listed()}), "gp-worker")
    assert "shutdownGracePeriod" in str(err.value)
    assert "kind-config.yaml" in str(err.value)


def test_a_ready_node_gives_its_inhibit_delay() -> None:
    shell = Shell(
        {
            "ListInhibitors": listed(KUBELET_LOCK),
            "InhibitDelayMaxUSec": json.dumps({"type": "t", "data": 30000000}),
        }
    )
    assert check_node(shell, "gp-worker") == 30.0


@pytest.mark.parametrize(
    ("fields", "word"), [({"node": " "}, "node must be"), ({"timeout_s": 0}, "timeout_s")]
)
def test_bad_parameters_are_refused(fields: dict[str, Any], word: str) -> None:
    with pytest.raises(WorkloadSpecError, match=word):
        NodeShutdown(**fields)


def test_it_is_offered_by_its_kind() -> None:
    assert DISRUPTIONS.lookup("node-shutdown") is NodeShutdown


def ended_pod(conditions: list[V1PodCondition], phase: str = "Running") -> V1Pod:
    return V1Pod(
        metadata=V1ObjectMeta(name="web-1"),
        status=V1PodStatus(phase=phase, reason="Terminated", conditions=conditions),
    )


SHUTDOWN = V1PodCondition(
    type="DisruptionTarget",
    status="True",
    reason="TerminationByKubelet",
    message="Pod was terminated in response to imminent node shutdown.",
)


def test_the_kubelets_disruption_condition_is_reported_once_with_its_reason() -> None:
    tracker = PodTracker()
    assert "pod_disrupted" not in [e.kind for e in tracker.apply("ADDED", ended_pod([]), 1.0)]
    first = tracker.apply("MODIFIED", ended_pod([SHUTDOWN]), 2.0)
    again = tracker.apply("MODIFIED", ended_pod([SHUTDOWN], "Failed"), 3.0)
    (event,) = [e for e in first if e.kind == "pod_disrupted"]
    assert (event.t, event.pod) == (2.0, "web-1")
    assert event.detail["reason"] == "TerminationByKubelet"
    assert event.detail["pod_reason"] == "Terminated"
    assert [e.kind for e in again if e.kind == "pod_disrupted"] == []


def test_a_disrupted_pod_that_is_never_deleted_has_a_window() -> None:
    events = [
        TimelineEvent(10.0, "pod_disrupted", "web-1", {"reason": "TerminationByKubelet"}),
        TimelineEvent(15.0, "container_terminated", "web-1"),
    ]
    (window,) = termination_windows(events, tail_s=3.0)
    assert (window.pod, window.start, window.end) == ("web-1", 10.0, 18.0)


def test_a_window_starts_at_the_first_of_the_disruption_and_the_deletion() -> None:
    events = [
        TimelineEvent(10.0, "pod_disrupted", "web-1", {"reason": "EvictionByEvictionAPI"}),
        TimelineEvent(10.2, "pod_deleted", "web-1"),
        TimelineEvent(15.0, "container_terminated", "web-1"),
    ]
    (window,) = termination_windows(events, tail_s=0.0)
    assert (window.start, window.end) == (10.0, 15.0)


def test_a_pod_kept_in_a_terminal_phase_has_finished_but_a_deleted_one_has_not() -> None:
    def listed_pod(name: str, phase: str, deleted: bool) -> Any:
        meta = SimpleNamespace(name=name, deletion_timestamp="now" if deleted else None)
        return SimpleNamespace(metadata=meta, status=SimpleNamespace(phase=phase))

    pods = [listed_pod("kept", "Failed", False), listed_pod("going", "Failed", True)]
    core = SimpleNamespace(list_namespaced_pod=lambda ns, **kw: SimpleNamespace(items=pods))
    kube = cast(Kube, SimpleNamespace(core=core))
    wait_all_gone(kube, "ns", ["kept"], timeout=0.1)
    with pytest.raises(Exception, match="going"):
        wait_all_gone(kube, "ns", ["kept", "going"], timeout=0.1)


def test_a_pod_whose_node_announced_its_shutdown_has_its_window_from_the_announcement() -> None:
    announced = {"action": "shutdown_announced", STARTS_TERMINATION: True}
    events = [
        TimelineEvent(10.0, "disruption", "web-1", announced),
        TimelineEvent(10.0, "disruption", None, {"action": "prepare_for_shutdown"}),
        TimelineEvent(15.5, "pod_disrupted", "web-1", {"reason": "TerminationByKubelet"}),
        TimelineEvent(15.5, "container_terminated", "web-1"),
        TimelineEvent(15.6, "endpoint_removed", "web-1"),
        # An action without the marker starts nothing (a deletion's window starts at
        # the watch's pod_deleted).
        TimelineEvent(12.0, "disruption", "web-2", {"action": "delete"}),
    ]
    (window,) = termination_windows(events, tail_s=3.0)
    # It ends at its endpoint's removal, which came after its end, plus the tail.
    assert (window.pod, window.start, window.end) == ("web-1", 10.0, 18.6)


def test_a_deleted_pods_window_still_ends_at_its_exit_whatever_its_endpoint_does() -> None:
    events = [
        TimelineEvent(10.0, "pod_deleted", "web-1"),
        TimelineEvent(12.0, "container_terminated", "web-1"),
        TimelineEvent(14.0, "endpoint_removed", "web-1"),
    ]
    (window,) = termination_windows(events, tail_s=3.0)
    assert (window.start, window.end) == (10.0, 15.0)


class NodeShell:
    """A kind node's shell: busctl answers from the lock state, systemctl restarts."""

    node = "gp-worker"

    def __init__(self, lock_after_cancel: bool) -> None:
        self.lock_after_cancel = lock_after_cancel
        self.cancelled = False
        self.ran: list[str] = []

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> str:
        self.ran.append(" ".join(argv))
        if "emit" in argv:
            self.cancelled = argv[-1] == "false"
            return ""
        if "restart" in argv:
            self.lock_after_cancel = True
            return ""
        held = not self.cancelled or self.lock_after_cancel
        return listed(KUBELET_LOCK) if held else listed()


def shutdown_ctx(ready: list[bool]) -> Any:
    """A DisruptionContext whose node reads Ready in the order given (the last repeats),
    with no DaemonSet and no pod."""
    states = iter(ready)
    last = [ready[0]]

    def read_node(name: str, **kw: Any) -> Any:
        last[0] = next(states, last[0])
        cond = SimpleNamespace(type="Ready", status=str(last[0]), reason="r", message="m")
        # Tainted while NotReady, as the node lifecycle controller does.
        taints = (
            []
            if last[0]
            else [SimpleNamespace(key="node.kubernetes.io/not-ready", effect="NoSchedule")]
        )
        return SimpleNamespace(
            status=SimpleNamespace(conditions=[cond]), spec=SimpleNamespace(taints=taints)
        )

    empty = SimpleNamespace(items=[])
    core = SimpleNamespace(read_node=read_node, list_pod_for_all_namespaces=lambda **kw: empty)
    apps = SimpleNamespace(list_daemon_set_for_all_namespaces=lambda **kw: empty)
    return SimpleNamespace(
        kube=SimpleNamespace(core=core, apps=apps),
        record=DisruptionRecord(kind="node-shutdown", started=0.0),
    )


def test_a_failed_proof_still_cancels_the_shutdown_and_restarts_a_kubelet_that_lost_its_lock() -> (
    None
):
    shell = NodeShell(lock_after_cancel=False)
    ctx = shutdown_ctx([True, False, False, True])
    shutdown = _Shutdown(
        ctx, shell, "gp-worker", delay=1.0, timeout=2.0, daemonsets=set(), taints=set()
    )
    with pytest.raises(RuntimeError, match="mid-proof"), shutdown.announced(["web-1"]):
        raise RuntimeError("mid-proof")
    actions = [a["action"] for a in ctx.record.actions]
    # NotReady awaited before the cancel (never seen in the block), then the restart.
    assert actions == [
        "prepare_for_shutdown",
        "shutdown_announced",
        "node_not_ready",
        "shutdown_cancelled",
        "node_ready",
        "kubelet_restarted",
        "node_untainted",
    ]
    assert ctx.record.actions[1][STARTS_TERMINATION] is True
    assert any(r.endswith("PrepareForShutdown b true") for r in shell.ran)
    assert any(r.endswith("PrepareForShutdown b false") for r in shell.ran)


def test_a_kubelet_that_kept_its_lock_is_not_restarted() -> None:
    shell = NodeShell(lock_after_cancel=True)
    ctx = shutdown_ctx([False, True])
    shutdown = _Shutdown(
        ctx, shell, "gp-worker", delay=1.0, timeout=2.0, daemonsets=set(), taints=set()
    )
    with shutdown.announced([]):
        shutdown.wait_not_ready()
    assert "kubelet_restarted" not in [a["action"] for a in ctx.record.actions]
    assert not any("restart" in r for r in shell.ran)


def test_a_failed_restore_says_how_to_restore_by_hand() -> None:
    shell = NodeShell(lock_after_cancel=True)
    ctx = shutdown_ctx([False, False])  # never Ready again
    shutdown = _Shutdown(
        ctx, shell, "gp-worker", delay=0.1, timeout=0.1, daemonsets=set(), taints=set()
    )
    with pytest.raises(RuntimeError) as err, shutdown.announced(["web-1"]):
        shutdown.wait_not_ready()
        raise RuntimeError("mid-proof")
    notes = " ".join(getattr(err.value, "__notes__", []))
    assert "restoring node gp-worker failed as well" in notes
    assert "PrepareForShutdown b false" in notes and "systemctl restart kubelet" in notes
