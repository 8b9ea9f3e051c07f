"""The sample app's manifests as plain dicts: a Deployment and a NodePort Service in
one preStop variant (`render`), a single Pod (`render_pod`), a ClusterIP Service for
it (`render_service`), and the service registry (`render_registry`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from graceproof.config import DEFAULT_IMAGE
from graceproof.errors import WorkloadSpecError
from graceproof.hooks import HOOKS, PreStopHook, as_hook
from graceproof.podsecurity import RESTRICTED_CONTAINER, RESTRICTED_POD
from graceproof.workloads.base import NODE_PORTS
from graceproof.workloads.sample_scheduling import Pdb, check_node_selector, place

__all__ = [
    "APP_PORT",
    "APP_SIGNALS",
    "DEFAULT_IMAGE",
    "NAME_LABEL",
    "PROTOCOLS",
    "SHUTDOWN_MODES",
    "VARIANTS",
    "ShutdownMode",
    "check",
    "container",
    "render",
    "render_pod",
    "render_registry",
    "render_service",
]

VARIANTS: tuple[str, ...] = tuple(HOOKS)
ShutdownMode = Literal["immediate", "drain", "ignore"]
SHUTDOWN_MODES: tuple[ShutdownMode, ...] = get_args(ShutdownMode)

APP_PORT = 8080
# Other protocols the app serves on demand (SampleApp(protocols=...)): the traffic
# kind's port name -> (container port, the app's env variable, NodePort offset from
# the app's own).
PROTOCOLS: dict[str, tuple[int, str, int]] = {
    "grpc": (8081, "GRPC_PORT", 1),
    "websocket": (8082, "WS_PORT", 2),
    "sse": (8083, "SSE_PORT", 3),
}
NAME_LABEL = "app.kubernetes.io/name"
VARIANT_LABEL = "graceproof.dev/variant"
# render's own default; a SampleApp's hooks default to graceproof.hooks.DEFAULT_SLEEP_S.
RENDER_SLEEP_S = 10
# What the app and the exec hook write to the container log (graceproof.timeline).
APP_SIGNALS = frozenset({"sigterm", "app_exit", "hook_start", "hook_end"})


def check(hook: PreStopHook, grace_seconds: int, shutdown_mode: str, replicas: int = 1) -> None:
    if shutdown_mode not in SHUTDOWN_MODES:
        raise WorkloadSpecError(
            f"shutdown_mode must be one of {SHUTDOWN_MODES}, not {shutdown_mode!r}"
        )
    if grace_seconds < 0:
        raise WorkloadSpecError(f"grace_seconds must be >= 0, not {grace_seconds}")
    hook.check(grace_seconds)
    if replicas < 1:
        raise WorkloadSpecError(f"replicas must be >= 1, not {replicas}")


def container(
    hook: PreStopHook,
    *,
    image: str,
    shutdown_mode: ShutdownMode = "immediate",
    drain_timeout: int = 20,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The app container of the sample workload."""
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "PORT", "value": str(APP_PORT)},
        {"name": "SHUTDOWN_MODE", "value": shutdown_mode},
        {"name": "DRAIN_TIMEOUT", "value": str(drain_timeout)},
    ]
    env += [{"name": k, "value": v} for k, v in sorted((extra_env or {}).items())]
    spec: dict[str, Any] = {
        "name": "app",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": APP_PORT},
            "periodSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": 3,
        },
    }
    lifecycle = hook.lifecycle(APP_PORT)
    if lifecycle is not None:
        spec["lifecycle"] = lifecycle
    if not hook.writes_root_filesystem:
        spec["securityContext"] = dict(RESTRICTED_CONTAINER)
    return spec


def _pod_spec(
    hook: PreStopHook,
    *,
    image: str,
    grace_seconds: int,
    shutdown_mode: ShutdownMode,
    extra_env: Mapping[str, str] | None,
) -> dict[str, Any]:
    # The app drains for at most what is left of the grace period after the hook.
    drain_timeout = max(1, grace_seconds - hook.holds_s - 2)
    # Pod Security "restricted" where the hook allows it (graceproof.podsecurity).
    security = {} if hook.writes_root_filesystem else {"securityContext": dict(RESTRICTED_POD)}
    return {
        **security,
        "terminationGracePeriodSeconds": grace_seconds,
        "containers": [
            container(
                hook,
                image=image,
                shutdown_mode=shutdown_mode,
                drain_timeout=drain_timeout,
                extra_env=extra_env,
            )
        ],
    }


def _labels(name: str, hook: PreStopHook, labels: Mapping[str, str] | None) -> dict[str, str]:
    return {NAME_LABEL: name, VARIANT_LABEL: hook.name, **(labels or {})}


def render(
    variant: PreStopHook | str,
    *,
    name: str,
    image: str,
    replicas: int = 3,
    grace_seconds: int = 30,
    sleep_seconds: int = RENDER_SLEEP_S,
    shutdown_mode: ShutdownMode = "immediate",
    node_port: int,
    labels: Mapping[str, str] | None = None,
    registry_url: str | None = None,
    pdb: Pdb | None = None,
    spread: bool = False,
    node_selector: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """A Deployment and a NodePort Service of the sample workload in one variant, and
    a PodDisruptionBudget when `pdb` is given.

    `variant` is a hook, or the name of a shipped one with `sleep_seconds`. `labels`
    (e.g. a run id) go on every object and on the pods. `registry_url`, when given,
    makes the app register at start and deregister in its /prestop hook. `spread` puts
    the replicas on different nodes; `node_selector` keeps them on matching nodes.
    """
    hook = as_hook(variant, sleep_seconds)
    check(hook, grace_seconds, shutdown_mode, replicas)
    check_node_selector(node_selector)
    if node_port not in NODE_PORTS:
        raise WorkloadSpecError(
            f"node_port {node_port} is outside {NODE_PORTS.start}-{NODE_PORTS.stop - 1}, "
            "the node ports that kind maps to 127.0.0.1"
        )
    all_labels = _labels(name, hook, labels)
    selector = {NAME_LABEL: name}
    extra_env = {"REGISTRY_URL": registry_url} if registry_url else None
    pod_spec = _pod_spec(
        hook,
        image=image,
        grace_seconds=grace_seconds,
        shutdown_mode=shutdown_mode,
        extra_env=extra_env,
    )
    place(pod_spec, selector, spread=spread, node_selector=node_selector)
    deployment = _deployment(name, replicas, all_labels, selector, pod_spec)
    objects = [deployment, _node_port_service(name, node_port, all_labels, selector)]
    return objects if pdb is None else [*objects, pdb.render(name, all_labels, selector)]


def _deployment(
    name: str,
    replicas: int,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    pod_spec: dict[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            # Never fewer ready pods than asked for while rolling: the disruption is
            # the termination itself, not a capacity dip.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def _node_port_service(
    name: str, node_port: int, labels: Mapping[str, str], selector: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "type": "NodePort",
            "selector": dict(selector),
            "ports": [
                {
                    "name": "http",
                    "port": APP_PORT,
                    "targetPort": APP_PORT,
                    "nodePort": node_port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def render_pod(
    variant: PreStopHook | str,
    *,
    name: str,
    image: str,
    grace_seconds: int = 30,
    sleep_seconds: int = RENDER_SLEEP_S,
    shutdown_mode: ShutdownMode = "immediate",
    labels: Mapping[str, str] | None = None,
    registry_url: str | None = None,
) -> dict[str, Any]:
    """A single Pod of the sample workload, for hook tests without a Service."""
    hook = as_hook(variant, sleep_seconds)
    check(hook, grace_seconds, shutdown_mode)
    extra_env = {"REGISTRY_URL": registry_url} if registry_url else None
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": _labels(name, hook, labels)},
        "spec": _pod_spec(
            hook,
            image=image,
            grace_seconds=grace_seconds,
            shutdown_mode=shutdown_mode,
            extra_env=extra_env,
        ),
    }


def render_service(name: str) -> dict[str, Any]:
    """A ClusterIP Service selecting the pod(s) named `name`: gives a single pod an
    EndpointSlice, so its endpoint conditions can be watched."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {NAME_LABEL: name},
            "ports": [{"port": APP_PORT, "targetPort": APP_PORT}],
        },
    }


def render_registry(
    *,
    name: str,
    image: str,
    node_port: int,
    labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The service registry (APP_ROLE=registry): one replica and a NodePort Service.

    Workload pods reach it as http://<name>:8080 (cluster DNS), the test through
    the node port on 127.0.0.1 (GET /events).
    """
    objects = render(
        "no-hook",
        name=name,
        image=image,
        replicas=1,
        shutdown_mode="drain",
        node_port=node_port,
        labels={"app.kubernetes.io/component": "registry", **(labels or {})},
    )
    app = objects[0]["spec"]["template"]["spec"]["containers"][0]
    app["env"].append({"name": "APP_ROLE", "value": "registry"})
    return objects
