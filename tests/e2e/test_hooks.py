"""Every hook and termination path, on the real cluster, with measured timings.

Times are seconds after graceproof's delete call. Tolerances are wide enough for a
loaded 2-core machine and narrow enough to tell the claims apart (a 2 s extension
is not a 0 s one, a hook that ran is not one that was skipped).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from graceproof import probe
from graceproof.errors import ExecError, ManifestRejectedError
from graceproof.kube import Kube
from graceproof.model import TimelineEvent
from graceproof.termination import TerminationTrace, observe_termination
from graceproof.waiting import deployment_available, wait_for
from graceproof.workloads import (
    STOP_LOG_MESSAGE,
    STOP_LOG_PATH,
    WorkloadSpecError,
    render,
    render_pod,
    render_registry,
    render_service,
)

pytestmark = pytest.mark.e2e


def _app(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def _get(port: int, path: str, timeout: float = 10) -> tuple[int, str]:
    answer = probe.get(port, path, timeout=timeout)
    return answer.status, answer.body


def _record(sink: list[TimelineEvent], trace: TerminationTrace) -> None:
    sink.extend(trace.events)
    print(
        f"{trace.pod}: "
        + ", ".join(f"{k} {v:+.2f}s" for k, v in trace.figures().items() if v is not None)
    )


def test_prestop_exec_order_stop_log_and_terminating_time(
    kube: Kube, namespace: str, workload_image: str, timeline_sink: list[TimelineEvent]
) -> None:
    """The seed example: `echo this pod is stopping. > /stop.log && sleep 10`."""
    sleep_s = 10
    seen: dict[str, str] = {}

    def during(trace: TerminationTrace) -> None:
        seen["stop.log"] = wait_for(
            lambda: _cat(kube, namespace, trace.pod, STOP_LOG_PATH),
            what=f"{STOP_LOG_PATH} during termination",
            timeout=sleep_s - 2,
            interval=0.2,
        )

    trace = observe_termination(
        kube,
        namespace,
        render_pod("prestop-exec", name="order", image=workload_image, sleep_seconds=sleep_s),
        service=render_service("order"),
        during=during,
        running_for=3,  # deleted right after Ready, the kubelet starts ~1.7 s later
    )
    _record(timeline_sink, trace)
    f = trace.figures()
    assert seen["stop.log"].strip() == STOP_LOG_MESSAGE
    missing = [k for k, v in f.items() if v is None]
    assert not missing, f"not seen: {missing}"
    # Endpoint removal and the hook both start at once, right after the deletion...
    assert f["endpoint_not_ready"] < 1.0
    assert f["hook_start"] < 1.0
    # ...the hook runs its full length, and only then does the app get SIGTERM.
    assert f["hook_end"] - f["hook_start"] >= sleep_s - 0.1
    assert f["sigterm"] >= f["hook_end"]
    assert f["app_exit"] >= f["sigterm"]
    assert f["pod_gone"] >= sleep_s, "the pod left Terminating before the hook could end"


def test_prestop_tcpsocket_is_accepted_but_fails_at_run_time(
    kube: Kube, namespace: str, workload_image: str, timeline_sink: list[TimelineEvent]
) -> None:
    pod = render_pod("no-hook", name="tcp", image=workload_image, shutdown_mode="immediate")
    _app(pod)["lifecycle"] = {"preStop": {"tcpSocket": {"port": 8080}}}
    trace = observe_termination(kube, namespace, pod)  # the API server accepts it
    _record(timeline_sink, trace)
    failed = trace.k8s_events("FailedPreStopHook")
    assert failed, "the kubelet did not report the tcpSocket hook as failed"
    # Nothing waited for a hook: SIGTERM follows the deletion at once.
    sigterm = trace.since_deletion("sigterm")
    assert sigterm is not None and sigterm < 3.0


def test_failing_prestop_exec_reports_and_termination_goes_on(
    kube: Kube, namespace: str, workload_image: str, timeline_sink: list[TimelineEvent]
) -> None:
    pod = render_pod("no-hook", name="failhook", image=workload_image, grace_seconds=30)
    _app(pod)["lifecycle"] = {"preStop": {"exec": {"command": ["sh", "-c", "exit 1"]}}}
    trace = observe_termination(kube, namespace, pod)
    _record(timeline_sink, trace)
    assert trace.k8s_events("FailedPreStopHook")
    sigterm = trace.since_deletion("sigterm")
    assert sigterm is not None and sigterm < 5.0, "a failed hook must not hold SIGTERM back"


def test_poststart_exec_runs_at_start(kube: Kube, namespace: str, workload_image: str) -> None:
    pod = render_pod("no-hook", name="poststart", image=workload_image)
    _app(pod)["lifecycle"] = {
        "postStart": {"exec": {"command": ["sh", "-c", "echo started > /started.log"]}}
    }
    # The hook writes on the root filesystem, as the exec preStop hook does: without
    # the Pod Security "restricted" settings (read-only root, non-root user).
    del pod["spec"]["securityContext"], _app(pod)["securityContext"]
    kube.apply([pod], namespace)
    from graceproof.waiting import pod_ready

    pod_ready(kube.core, namespace, "poststart").wait(timeout=120)
    assert kube.exec(namespace, "poststart", "app", ["cat", "/started.log"]).strip() == "started"


def test_failing_poststart_kills_the_container(
    kube: Kube, namespace: str, workload_image: str
) -> None:
    pod = render_pod("no-hook", name="badstart", image=workload_image, grace_seconds=2)
    _app(pod)["lifecycle"] = {"postStart": {"exec": {"command": ["sh", "-c", "exit 1"]}}}
    kube.apply([pod], namespace)

    # The kubelet kills the container within its grace period (2 s here: the app may
    # still be starting when SIGTERM comes, and with the default 30 s it waited them
    # all); the restart after it waits a back-off more, and proves nothing more.
    def killed() -> Any:
        p = kube.core.read_namespaced_pod("badstart", namespace)
        for cs in p.status.container_statuses or []:
            for state in (cs.state, cs.last_state):
                if state is not None and state.terminated is not None:
                    return state.terminated
        return None

    terminated = wait_for(killed, what="the container to be killed", timeout=60)
    reasons = {
        e.reason
        for e in kube.core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=badstart"
        ).items
    }
    assert {"FailedPostStartHook", "Killing"} <= reasons, reasons
    assert terminated.exit_code != 0, terminated


def test_grace_period_overrun_sigterm_at_grace_then_sigkill_two_seconds_later(
    kube: Kube, namespace: str, workload_image: str, timeline_sink: list[TimelineEvent]
) -> None:
    grace = 4
    pod = render_pod(
        "prestop-exec",
        name="overrun",
        image=workload_image,
        grace_seconds=grace,
        sleep_seconds=30,  # far longer than the grace period
        shutdown_mode="ignore",  # the app survives SIGTERM and logs a heartbeat
    )
    trace = observe_termination(kube, namespace, pod)
    _record(timeline_sink, trace)
    sigterm = trace.since_deletion("sigterm")
    hook = trace.since_deletion("hook_start")
    beat = trace.last("app_heartbeat")
    assert sigterm is not None and hook is not None and beat is not None
    killed = beat.t - trace.deleted_at  # SIGKILL came within one heartbeat after this
    print(
        f"overrun: grace {grace}s, kubelet began killing (hook start) {hook:+.2f}s, "
        f"SIGTERM {sigterm:+.2f}s, SIGKILL ~{killed:+.2f}s after the delete call"
    )
    # The grace period runs from when the kubelet starts killing (the hook starts),
    # which can lag the API deletion; the hook gets all of it, then SIGTERM...
    assert grace - 0.5 <= sigterm - hook <= grace + 1.0
    # ...and the kubelet's one-time 2 s extension before SIGKILL.
    assert 1.5 <= killed - sigterm <= 3.0, "expected the kubelet's one-time 2 s extension"
    ends = [e for e in trace.events if e.kind == "container_terminated" and e.pod == "overrun"]
    assert ends and ends[0].detail.get("exit_code") == 137  # SIGKILL


def test_prestop_sleep_zero_seconds_is_accepted_and_does_not_delay(
    kube: Kube, namespace: str, workload_image: str, timeline_sink: list[TimelineEvent]
) -> None:
    pod = render_pod("prestop-sleep", name="sleepzero", image=workload_image, sleep_seconds=0)
    assert _app(pod)["lifecycle"]["preStop"] == {"sleep": {"seconds": 0}}
    trace = observe_termination(kube, namespace, pod)
    _record(timeline_sink, trace)
    sigterm = trace.since_deletion("sigterm")
    assert sigterm is not None and sigterm < 3.0


def test_prestop_sleep_longer_than_grace_is_rejected_with_a_clear_error(
    kube: Kube, namespace: str, workload_image: str
) -> None:
    with pytest.raises(WorkloadSpecError, match="sleep_seconds"):
        render_pod("prestop-sleep", name="x", image=workload_image, sleep_seconds=40)
    pod = render_pod("prestop-sleep", name="toolong", image=workload_image, sleep_seconds=10)
    _app(pod)["lifecycle"]["preStop"]["sleep"]["seconds"] = 40  # grace stays 30
    with pytest.raises(ManifestRejectedError) as err:
        kube.apply([pod], namespace)
    assert err.value.status == 422
    assert "sleep" in str(err.value) and "terminationGracePeriodSeconds" in str(err.value)


def _slow_requests(port: int, n: int, seconds: float) -> tuple[list[threading.Thread], list[int]]:
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        status, _ = _get(port, f"/slow?seconds={seconds}", timeout=seconds + 15)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, statuses


@pytest.mark.parametrize(
    "variant, mode, node_port, completes",
    [("prestop-sleep", "drain", 30080, True), ("no-hook", "immediate", 30081, False)],
)
def test_in_flight_slow_requests(
    kube: Kube,
    namespace: str,
    workload_image: str,
    variant: str,
    mode: str,
    node_port: int,
    completes: bool,
) -> None:
    kube.apply(
        render(
            variant,  # type: ignore[arg-type]
            name="slow",
            image=workload_image,
            replicas=1,
            sleep_seconds=2,
            shutdown_mode=mode,  # type: ignore[arg-type]
            node_port=node_port,
        ),
        namespace,
    )
    deployment_available(kube.apps, namespace, "slow").wait(timeout=120)
    wait_for(lambda: _get(node_port, "/")[0] == 200 or None, what="the NodePort", timeout=60)
    pod = kube.core.list_namespaced_pod(namespace).items[0].metadata.name
    threads, statuses = _slow_requests(node_port, 4, 5)
    wait_for(
        lambda: _count_log(kube, namespace, pod, "slow_start") >= 4 or None,
        what="4 slow requests in flight",
        timeout=10,
        interval=0.1,
    )
    kube.core.delete_namespaced_pod(pod, namespace)
    for t in threads:
        t.join(timeout=30)
    if completes:
        assert statuses == [200] * 4, statuses
    else:
        assert 200 not in statuses, statuses


def test_prestop_deregisters_from_registry_before_sigterm(
    kube: Kube, namespace: str, workload_image: str, timeline_sink: list[TimelineEvent]
) -> None:
    kube.apply(render_registry(name="registry", image=workload_image, node_port=30082), namespace)
    deployment_available(kube.apps, namespace, "registry").wait(timeout=120)
    # No cluster DNS on every cluster: the pod reaches the registry by its ClusterIP.
    ip = kube.core.read_namespaced_service("registry", namespace).spec.cluster_ip
    wait_for(lambda: _get(30082, "/events")[0] == 200 or None, what="the registry", timeout=60)
    pod = render_pod(
        "prestop-http",
        name="member",
        image=workload_image,
        sleep_seconds=2,
        registry_url=f"http://{ip}:8080",
    )

    trace = observe_termination(kube, namespace, pod, service=render_service("member"))
    _record(timeline_sink, trace)
    events = json.loads(_get(30082, "/events")[1])
    actions = [(e["action"], e["t"]) for e in events if e["pod"] == "member"]
    assert [a for a, _ in actions][:1] == ["register"], actions
    dereg = [t for a, t in actions if a == "deregister"]
    sigterm = trace.first("sigterm")
    assert dereg, f"the registry never saw a deregistration: {actions}"
    assert sigterm is not None
    assert dereg[0] < sigterm.t, "the pod got SIGTERM before it was deregistered"


def _cat(kube: Kube, namespace: str, pod: str, path: str) -> str | None:
    try:
        return kube.exec(namespace, pod, "app", ["cat", path], timeout=5) or None
    except ExecError:
        return None


def _count_log(kube: Kube, namespace: str, pod: str, event: str) -> int:
    # Raw bytes: the client would otherwise try to parse the whole log as one JSON.
    resp = kube.core.read_namespaced_pod_log(
        pod, namespace, container="app", _preload_content=False
    )
    n = 0
    for line in resp.data.decode().splitlines():
        try:
            if json.loads(line).get("event") == event:
                n += 1
        except ValueError:
            continue
    return n
