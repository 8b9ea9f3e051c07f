"""One bounded wait helper, and the named conditions graceproof waits for.

Every wait has a deadline, an interval, a list of transient errors it tolerates and,
when it times out, the last state it saw (the loop: graceproof.wait_loop). A condition
is a probe (returns the awaited value, or None while not there yet) plus a description
of what it last saw. The conditions of a Deployment or StatefulSet are written once, on
their classes (graceproof.controllers); here are those of pods, namespaces and nodes,
and the checks that stop a rollout wait early when a pod cannot start.
"""

from __future__ import annotations

from typing import Any

from graceproof.controllers import Deployment, StatefulSet, controller_of
from graceproof.errors import ImageNotAvailableError, WorkloadStartError
from graceproof.kube import REQUEST_TIMEOUT
from graceproof.owners import owner_of, target_pods
from graceproof.podsecurity import PERMANENT_REFUSALS, creation_refusal, refusal_fix
from graceproof.wait_loop import (
    DEFAULT_TRANSIENT,
    PROGRESS_EVERY,
    Condition,
    Seen,
    conditions_text,
    is_transient,
    wait_for,
)

# How often a deploy's wait for its workload looks (workload_available).
_DEPLOY_POLL_S = 0.2

__all__ = [
    "DEFAULT_TRANSIENT",
    "PROGRESS_EVERY",
    "REQUEST_TIMEOUT",
    "Condition",
    "controller_scaled",
    "default_service_account",
    "deployment_available",
    "is_transient",
    "namespace_gone",
    "pod_gone",
    "pod_is_ready",
    "pod_ready",
    "raise_if_stuck",
    "statefulset_ready",
    "wait_for",
    "workload_available",
]


def deployment_available(apps: Any, namespace: str, name: str) -> Condition[Any]:
    """The Deployment's rollout is complete: every desired replica updated and available,
    no old replica left (what `kubectl rollout status` waits for). Yields the Deployment."""
    return Deployment(apps, namespace, name).rolled_out()


def statefulset_ready(apps: Any, namespace: str, name: str) -> Condition[Any]:
    """The StatefulSet's rollout is complete: every replica ready on the update revision."""
    return StatefulSet(apps, namespace, name).rolled_out()


# Container waiting reasons that no amount of waiting fixes within a test: the image
# cannot be had, or the container cannot start. A rollout wait stops at once on them.
IMAGE_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
)
START_REASONS = frozenset(
    {"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError"}
)


def stuck_container(pod: Any) -> tuple[Any, str] | None:
    """The first container status of `pod` waiting for a fatal reason, with the reason."""
    statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
    for cs in statuses:
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason in IMAGE_REASONS | START_REASONS:
            return cs, str(waiting.reason)
    return None


def raise_if_stuck(pods: list[Any], what: str) -> None:
    """ImageNotAvailableError or WorkloadStartError naming the pod, container, image and
    reason, when any of `pods` cannot start."""
    for pod in pods:
        found = stuck_container(pod)
        if found is None:
            continue
        cs, reason = found
        message = (cs.state.waiting.message or "").strip()
        where = f"pod {pod.metadata.name} ({owner_of(pod)}), container {cs.name}, image {cs.image}"
        if reason in IMAGE_REASONS:
            raise ImageNotAvailableError(
                f"{what} cannot start: {where}: {reason}"
                + (f" ({message})" if message else "")
                + ". Load the image into the cluster (graceproof prove --image, kind load, "
                "or --gp-image-archive), or make it pullable by the nodes; with "
                "imagePullPolicy: Always a locally loaded image is not enough."
            )
        raise WorkloadStartError(
            f"{what} cannot start: {where}: {reason}"
            + (f" ({message})" if message else "")
            + ". See the container's logs (kubectl logs --previous) and events."
        )


def workload_available(kube: Any, namespace: str, target: Any) -> Condition[Any]:
    """The target's Deployment or StatefulSet has rolled out every replica; fails at once
    (ImageNotAvailableError, WorkloadStartError) when a pod of it cannot start."""
    ready = controller_of(kube.apps, namespace, target).rolled_out()

    def probe() -> Any:
        pods = target_pods(kube, namespace, target)
        raise_if_stuck(pods, target.ref)
        if not pods:
            raise_if_refused(kube, namespace, target.ref)
        return ready.probe()

    # Polled every 0.2 s, not 0.5: a proof's deploy phase (2 s median) ends this wait,
    # and nothing is measured yet; the half-second poll cost 0.25 s a proof on average.
    return Condition(ready.what, probe, ready.describe, ready.hint, interval=_DEPLOY_POLL_S)


def raise_if_refused(kube: Any, namespace: str, what: str) -> None:
    """WorkloadStartError when the controller's pods are refused at creation for good:
    by Pod Security or a ResourceQuota (a transient refusal is left to the wait)."""
    reason = creation_refusal(kube, namespace)
    if reason is not None and any(r in reason for r in PERMANENT_REFUSALS):
        raise WorkloadStartError(
            f"{what} cannot create its pods: {reason}. To fix: {refusal_fix(reason)}"
        )


def controller_scaled(kube: Any, namespace: str, target: Any) -> Condition[Any]:
    """The target's Deployment or StatefulSet asks for `target.replicas` at least (e.g.
    once its HPA raised it to minReplicas). Yields the controller."""
    return controller_of(kube.apps, namespace, target).scaled_to(target.replicas)


def describe_pod(pod: Any) -> str:
    """Phase, conditions and container states of a pod in one line."""
    st = pod.status
    parts = [f"phase {st.phase}"]
    if pod.metadata.deletion_timestamp is not None:
        parts.append(f"terminating since {pod.metadata.deletion_timestamp}")
    conds = conditions_text(pod)
    if conds:
        parts.append(conds)
    for cs in st.container_statuses or []:
        state = cs.state
        if state is not None and state.waiting is not None:
            detail = f"waiting ({state.waiting.reason}: {state.waiting.message or ''})"
        elif state is not None and state.terminated is not None:
            t = state.terminated
            detail = f"terminated ({t.reason}, exit code {t.exit_code})"
        else:
            detail = "running"
        parts.append(f"{cs.name}: {detail}, restarts {cs.restart_count}")
    return "; ".join(parts)


def pod_is_ready(pod: Any) -> bool:
    """Whether a pod's Ready condition is True (the one definition graceproof uses)."""
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def pod_ready(core: Any, namespace: str, name: str) -> Condition[Any]:
    """The pod's Ready condition is True. Yields the pod."""
    seen = Seen()

    def probe() -> Any:
        pod = seen.read(
            lambda: core.read_namespaced_pod(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        )
        return pod if pod is not None and pod_is_ready(pod) else None

    def describe() -> str:
        if seen.obj is None:
            return f"pod {namespace}/{name} {seen.note}"
        return f"pod {namespace}/{name}: {describe_pod(seen.obj)}"

    return Condition(
        f"pod {namespace}/{name} to be Ready",
        probe,
        describe,
        hint="see the container state above; ImagePullBackOff means the image is not in the "
        "cluster (imagePullPolicy IfNotPresent and a loaded image)",
    )


def pod_gone(core: Any, namespace: str, name: str) -> Condition[bool]:
    """The pod object no longer exists (deleted and finalized)."""
    seen = Seen()

    def probe() -> bool | None:
        return (
            True
            if seen.read(
                lambda: core.read_namespaced_pod(name, namespace, _request_timeout=REQUEST_TIMEOUT)
            )
            is None
            else None
        )

    def describe() -> str:
        if seen.obj is None:
            return f"pod {namespace}/{name} {seen.note}"
        return f"pod {namespace}/{name} still exists: {describe_pod(seen.obj)}"

    return Condition(f"pod {namespace}/{name} to be gone", probe, describe)


def namespace_gone(core: Any, name: str) -> Condition[bool]:
    """The namespace no longer exists."""
    seen = Seen()

    def probe() -> bool | None:
        return (
            True
            if seen.read(lambda: core.read_namespace(name, _request_timeout=REQUEST_TIMEOUT))
            is None
            else None
        )

    def describe() -> str:
        ns = seen.obj
        if ns is None:
            return f"namespace {name} {seen.note}"
        return f"namespace {name} is {ns.status.phase}; {conditions_text(ns)}"

    return Condition(
        f"namespace {name} to be gone",
        probe,
        describe,
        hint="a finalizer may be blocking deletion; see the namespace's conditions",
    )


def default_service_account(core: Any, namespace: str = "default") -> Condition[Any]:
    """The namespace's `default` ServiceAccount exists (pods cannot be created before)."""
    seen = Seen()

    def probe() -> Any:
        return seen.read(
            lambda: core.read_namespaced_service_account(
                "default", namespace, _request_timeout=REQUEST_TIMEOUT
            )
        )

    def describe() -> str:
        return f"serviceaccount {namespace}/default {seen.note}"

    return Condition(
        f"the default service account of namespace {namespace}",
        probe,
        describe,
        hint="the controller manager creates it; is kube-controller-manager running?",
    )


def nodes_ready(core: Any, count: int) -> Condition[list[Any]]:
    """At least `count` nodes are registered and every registered node is Ready (a kind
    cluster's workers join after its control plane, which is all `kind --wait` awaits).
    Yields the nodes."""
    seen: list[Any] = []

    def ready(node: Any) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])

    def probe() -> list[Any] | None:
        seen[:] = core.list_node(_request_timeout=REQUEST_TIMEOUT).items
        return list(seen) if len(seen) >= count and all(ready(n) for n in seen) else None

    def describe() -> str:
        states = ", ".join(f"{n.metadata.name} {'Ready' if ready(n) else 'NotReady'}" for n in seen)
        return f"{len(seen)} of {count} nodes registered: {states or 'none'}"

    return Condition(
        f"{count} Ready nodes",
        probe,
        describe,
        hint="a node's kubelet or its CNI did not come up; see the node's conditions and "
        "its container's logs (kind export logs)",
    )
