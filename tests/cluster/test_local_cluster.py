"""What the local cluster of hack/ must do for graceproof's proofs to mean anything.

Run against a real cluster (the local one in .ci/run): a Deployment becomes
Available, its NodePort answers on 127.0.0.1, and a preStop exec hook really holds
the pod in Terminating, is visible through exec, while its endpoint is not ready.
"""

from __future__ import annotations

import time

import pytest

from graceproof.kube import Kube
from graceproof.probe import get
from graceproof.waiting import deployment_available, pod_gone, wait_for
from graceproof.workloads import STOP_LOG_MESSAGE, STOP_LOG_PATH, render

pytestmark = pytest.mark.cluster


def _http_ok(port: int) -> str | None:
    answer = get(port)
    return answer.pod if answer.status == 200 else None


def test_deployment_of_three_becomes_available_and_answers_on_node_port(
    kube: Kube, namespace: str, workload_image: str
) -> None:
    kube.apply(
        render("no-hook", name="web", image=workload_image, replicas=3, node_port=30080),
        namespace,
    )
    d = deployment_available(kube.apps, namespace, "web").wait(timeout=120)
    assert d.status.available_replicas == 3

    # The NodePort on 127.0.0.1 reaches the pods, and more than one pod answers (the
    # Service balances across endpoints). Not at once: kube-proxy syncs at most once a
    # second, so the first sync after the rollout may hold only the first ready pod.
    first = wait_for(lambda: _http_ok(30080), what="NodePort 30080 on 127.0.0.1", timeout=30)
    pods: set[str | None] = {first}

    def balanced() -> set[str | None] | None:
        pods.update(_http_ok(30080) for _ in range(10))
        pods.discard(None)
        return pods if len(pods) >= 2 else None

    wait_for(
        balanced,
        what="a second pod to answer through the Service",
        timeout=15,
        interval=0.2,
        describe=lambda: f"only {pods} answered",
    )
    names = {p.metadata.name for p in kube.core.list_namespaced_pod(namespace).items}
    assert pods <= names


def test_prestop_exec_hook_holds_pod_terminating_and_is_visible(
    kube: Kube, namespace: str, workload_image: str
) -> None:
    sleep_s = 10
    kube.apply(
        render(
            "prestop-exec",
            name="hooked",
            image=workload_image,
            replicas=1,
            grace_seconds=30,
            sleep_seconds=sleep_s,
            node_port=30081,
        ),
        namespace,
    )
    deployment_available(kube.apps, namespace, "hooked").wait(timeout=120)
    # Scale to zero so no replacement pod muddles the EndpointSlice.
    pod = kube.core.list_namespaced_pod(namespace).items[0].metadata.name

    deleted_at = time.time()
    kube.apps.patch_namespaced_deployment_scale("hooked", namespace, {"spec": {"replicas": 0}})

    # During termination: the hook's file is there, read through exec...
    stop_log = wait_for(
        lambda: _try_exec(kube, namespace, pod, ["cat", STOP_LOG_PATH]),
        what=f"{STOP_LOG_PATH} in the terminating pod",
        timeout=8,
        interval=0.2,
    )
    assert stop_log.strip() == STOP_LOG_MESSAGE
    # ...the pod is Terminating, and its endpoint is no longer ready (but terminating).
    p = kube.core.read_namespaced_pod(pod, namespace)
    assert p.metadata.deletion_timestamp is not None
    conditions = wait_for(
        lambda: _endpoint_conditions(kube, namespace, "hooked", pod, want_ready=False),
        what="the pod's endpoint to turn not ready",
        timeout=5,
        interval=0.2,
    )
    assert conditions.ready is False
    assert conditions.terminating is True
    assert time.time() - deleted_at < sleep_s, "checks took longer than the hook itself"

    pod_gone(kube.core, namespace, pod).wait(timeout=60)
    terminating_for = time.time() - deleted_at
    assert terminating_for >= sleep_s, (
        f"the pod was gone {terminating_for:.1f}s after deletion, before the {sleep_s}s "
        "preStop sleep could have ended"
    )


def _try_exec(kube: Kube, namespace: str, pod: str, command: list[str]) -> str | None:
    from graceproof.errors import ExecError

    try:
        out = kube.exec(namespace, pod, "app", command, timeout=5)
    except ExecError:
        return None
    return out or None


def _endpoint_conditions(
    kube: Kube, namespace: str, service: str, pod: str, *, want_ready: bool
) -> object | None:
    slices = kube.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}"
    ).items
    for sl in slices:
        for ep in sl.endpoints or []:
            if (
                ep.target_ref
                and ep.target_ref.name == pod
                and bool(ep.conditions.ready) == want_ready
            ):
                return ep.conditions
    return None
