"""One bounded wait helper, and the named conditions graceproof waits for.

Every wait has a deadline, an interval, a list of transient errors it tolerates and,
when it times out, the last state it saw. A condition is a probe (returns the
awaited value, or None while not there yet) plus a description of what it last saw.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_delay

from graceproof.errors import ImageNotAvailableError, WaitTimeout, WorkloadStartError
from graceproof.kube import REQUEST_TIMEOUT
from graceproof.owners import owner_of, target_pods
from graceproof.podsecurity import PERMANENT_REFUSALS, creation_refusal, refusal_fix

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

T = TypeVar("T")
log = logging.getLogger(__name__)

# Errors that say "not now" rather than "never": an overloaded or restarting API
# server (5xx, 429; see is_transient) or a connection that failed.
DEFAULT_TRANSIENT: tuple[type[BaseException], ...] = (
    ApiException,
    urllib3.exceptions.MaxRetryError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.TimeoutError,
    ConnectionError,
)
PROGRESS_EVERY = 10.0  # seconds between progress lines of a long wait


class _NotYet(Exception):
    """The probe has not seen the awaited state yet (tenacity retries on this only)."""


def is_transient(exc: BaseException, transient: tuple[type[BaseException], ...]) -> bool:
    """Whether `exc` is worth retrying: of a `transient` type and, for ApiException,
    a 5xx or 429 (a 404 or 422 will not change by waiting)."""
    if not isinstance(exc, transient):
        return False
    if isinstance(exc, ApiException):
        status = exc.status or 0
        return status == 0 or status == 429 or status >= 500
    return True


def _last_state(describe: Callable[[], str] | None) -> str:
    if describe is None:
        return "not there yet (the probe returned None)"
    try:
        return describe()
    except Exception as exc:  # describing must never hide the timeout itself
        return f"(could not describe the state: {type(exc).__name__}: {exc})"


def wait_for(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.5,
    transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT,
    describe: Callable[[], str] | None = None,
    progress: Callable[[str], None] | None = None,
    hint: str | None = None,
) -> T:
    """Call `probe` every `interval` s until it returns a value other than None.

    Returns that value. A transient error is remembered and retried; any other error
    propagates at once. Past `timeout` s raises `WaitTimeout` carrying `describe()`
    (the last observed state) and the last transient error. A progress line goes to
    `progress` (default: this module's logger) every PROGRESS_EVERY s.
    """
    last_error: BaseException | None = None
    report = progress or log.info
    started = time.monotonic()
    deadline = started + max(timeout, 0.0)
    next_progress = started + PROGRESS_EVERY

    def attempt() -> T:
        nonlocal last_error
        try:
            value = probe()
        except BaseException as exc:
            if is_transient(exc, transient):
                last_error = exc
                raise _NotYet from exc
            raise
        if value is None:
            raise _NotYet
        return value

    def sleep_time(retry_state: RetryCallState) -> float:
        # wait_fixed, shortened so that one last probe happens right at the deadline.
        return max(0.0, min(interval, deadline - time.monotonic()))

    def before_sleep(retry_state: RetryCallState) -> None:
        nonlocal next_progress
        now = time.monotonic()
        if now >= next_progress:
            next_progress = now + PROGRESS_EVERY
            waited = f"{now - started:.0f}s of {timeout:g}s"
            report(f"still waiting for {what} ({waited}): {_last_state(describe)}")

    retrying = Retrying(
        stop=stop_after_delay(max(timeout, 0.0)),
        wait=sleep_time,
        retry=retry_if_exception_type(_NotYet),
        before_sleep=before_sleep,
        reraise=False,
    )
    try:
        return retrying(attempt)
    except RetryError:
        raise WaitTimeout(what, timeout, _last_state(describe), last_error, hint) from last_error


@dataclass(frozen=True)
class Condition(Generic[T]):
    """A named thing to wait for: `probe` and `describe` as `wait_for` takes them."""

    what: str
    probe: Callable[[], T | None]
    describe: Callable[[], str]
    hint: str | None = None

    def wait(
        self,
        timeout: float,
        *,
        interval: float = 0.5,
        progress: Callable[[str], None] | None = None,
    ) -> T:
        return wait_for(
            self.probe,
            what=self.what,
            timeout=timeout,
            interval=interval,
            describe=self.describe,
            progress=progress,
            hint=self.hint,
        )


class _Seen:
    """The last object a probe read (or the reason it read none), for describe()."""

    def __init__(self) -> None:
        self.obj: Any = None
        self.note = "not read yet"

    def read(self, reader: Callable[[], Any]) -> Any:
        """`reader()`, or None when the object does not exist (404)."""
        try:
            self.obj = reader()
        except ApiException as exc:
            if exc.status == 404:
                self.obj, self.note = None, "does not exist"
                return None
            raise
        return self.obj


def _conditions(obj: Any) -> str:
    conds = getattr(obj.status, "conditions", None) or []
    return ", ".join(f"{c.type}={c.status}" + (f" ({c.reason})" if c.reason else "") for c in conds)


def deployment_available(apps: Any, namespace: str, name: str) -> Condition[Any]:
    """The Deployment's rollout is complete: every desired replica updated and available,
    no old replica left (what `kubectl rollout status` waits for). Yields the Deployment."""
    seen = _Seen()

    def probe() -> Any:
        d = seen.read(
            lambda: apps.read_namespaced_deployment(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        )
        if d is None:
            return None
        want = d.spec.replicas if d.spec.replicas is not None else 1
        st = d.status
        done = (
            (st.observed_generation or 0) >= (d.metadata.generation or 0)
            and (st.updated_replicas or 0) == want
            and (st.replicas or 0) == want
            and (st.available_replicas or 0) == want
        )
        return d if done else None

    def describe() -> str:
        d = seen.obj
        if d is None:
            return f"deployment {namespace}/{name} {seen.note}"
        st = d.status
        return (
            f"deployment {namespace}/{name}: desired {d.spec.replicas}, replicas "
            f"{st.replicas or 0}, updated {st.updated_replicas or 0}, ready "
            f"{st.ready_replicas or 0}, available {st.available_replicas or 0}; generation "
            f"{d.metadata.generation} observed {st.observed_generation}; {_conditions(d)}"
        )

    return Condition(
        f"deployment {namespace}/{name} to be available",
        probe,
        describe,
        hint="check the pods' events and logs (image pull, readiness probe, crash loop)",
    )


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
    ready = (
        deployment_available(kube.apps, namespace, target.name)
        if target.kind == "Deployment"
        else statefulset_ready(kube.apps, namespace, target.name)
    )

    def probe() -> Any:
        pods = target_pods(kube, namespace, target)
        raise_if_stuck(pods, target.ref)
        if not pods:
            raise_if_refused(kube, namespace, target.ref)
        return ready.probe()

    return Condition(ready.what, probe, ready.describe, ready.hint)


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
    seen = _Seen()
    read = (
        kube.apps.read_namespaced_deployment
        if target.kind == "Deployment"
        else kube.apps.read_namespaced_stateful_set
    )

    def probe() -> Any:
        obj = seen.read(lambda: read(target.name, namespace, _request_timeout=REQUEST_TIMEOUT))
        if obj is None:
            return None
        # The HPA's bounds (target.replicas is the manifests' count brought into them):
        # reached once the controller asks for at least that many.
        return obj if (obj.spec.replicas or 0) >= target.replicas else None

    def describe() -> str:
        obj = seen.obj
        if obj is None:
            return f"{target.ref} {seen.note}"
        return f"{target.ref} asks for {obj.spec.replicas} replicas"

    return Condition(
        f"{target.ref} scaled by its HPA to {target.replicas} replicas at least",
        probe,
        describe,
        "is the HPA controller running (kube-controller-manager), and does the HPA's "
        "scaleTargetRef name this workload?",
    )


def statefulset_ready(apps: Any, namespace: str, name: str) -> Condition[Any]:
    """The StatefulSet's rollout is complete: every replica ready on the update revision."""
    seen = _Seen()

    def probe() -> Any:
        s = seen.read(
            lambda: apps.read_namespaced_stateful_set(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        )
        if s is None:
            return None
        want = s.spec.replicas if s.spec.replicas is not None else 1
        st = s.status
        done = (
            (st.observed_generation or 0) >= (s.metadata.generation or 0)
            and (st.ready_replicas or 0) == want
            and (st.updated_replicas or 0) == want
            and st.current_revision == st.update_revision
        )
        return s if done else None

    def describe() -> str:
        s = seen.obj
        if s is None:
            return f"statefulset {namespace}/{name} {seen.note}"
        st = s.status
        return (
            f"statefulset {namespace}/{name}: desired {s.spec.replicas}, ready "
            f"{st.ready_replicas or 0}, updated {st.updated_replicas or 0}, revision "
            f"{st.current_revision} -> {st.update_revision}"
        )

    return Condition(f"statefulset {namespace}/{name} to be ready", probe, describe)


def describe_pod(pod: Any) -> str:
    """Phase, conditions and container states of a pod in one line."""
    st = pod.status
    parts = [f"phase {st.phase}"]
    if pod.metadata.deletion_timestamp is not None:
        parts.append(f"terminating since {pod.metadata.deletion_timestamp}")
    conds = _conditions(pod)
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
    seen = _Seen()

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
    seen = _Seen()

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
    seen = _Seen()

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
        return f"namespace {name} is {ns.status.phase}; {_conditions(ns)}"

    return Condition(
        f"namespace {name} to be gone",
        probe,
        describe,
        hint="a finalizer may be blocking deletion; see the namespace's conditions",
    )


def default_service_account(core: Any, namespace: str = "default") -> Condition[Any]:
    """The namespace's `default` ServiceAccount exists (pods cannot be created before)."""
    seen = _Seen()

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
