"""The manifests of the sample app behind a reverse proxy in its own pod, as plain dicts.

Debian's nginx (the nginx example's image, examples/nginx) listens on PROXY_PORT and
passes every request to the app on 127.0.0.1; the NodePort Service targets the proxy,
so no request reaches the app but through it. The proxy runs either as a classic
container beside the app (the kubelet sends both SIGTERM at once) or as a native
sidecar: an init container with `restartPolicy: Always` (KEP-753), which the kubelet
stops only once the main containers have exited.

With an egress upstream (`render(..., egress_upstream=...)`) the proxy also carries
the app's outbound calls, as a mesh's sidecar does: nginx listens on
127.0.0.1:EGRESS_PORT and passes to the upstream, and the app calls it every 0.2 s
(its OUTBOUND_URL: workloads/app/app_outbound.py) until it exits.

`render` gives the ConfigMap with the proxy's nginx.conf (`nginx_conf`), the
Deployment and the Service; graceproof.workloads.sidecar is the `Workload` of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from graceproof.hooks import PreStopHook
from graceproof.podsecurity import RESTRICTED_CONTAINER, RESTRICTED_POD
from graceproof.workloads.sample_manifests import (
    APP_PORT,
    NAME_LABEL,
    VARIANT_LABEL,
    ShutdownMode,
    container,
)

__all__ = [
    "EGRESS_PORT",
    "OUTBOUND_INTERVAL_S",
    "PROXY_CONTAINER",
    "PROXY_IMAGE",
    "PROXY_KINDS",
    "PROXY_PORT",
    "ProxyKind",
    "nginx_conf",
    "proxy_container",
    "render",
]

# classic: a container beside the app; native: a sidecar (init container, restartPolicy
# Always).
ProxyKind = Literal["classic", "native"]
PROXY_KINDS: tuple[ProxyKind, ...] = get_args(ProxyKind)

# EXAMPLE_NGINX_IMAGE of hack/versions.env (a unit test keeps them equal): Debian's
# nginx-light on bookworm, nginx as PID 1 (`nginx -g 'daemon off;'`).
PROXY_IMAGE = "graceproof/example-nginx:1.0.0"
PROXY_CONTAINER = "proxy"
# Beside the app's 8080 and its gRPC and WebSocket ports (8081, 8082) in the same pod.
PROXY_PORT = 8000
# The egress listener, on loopback only: Istio's outbound port, free in the pod.
EGRESS_PORT = 15001
# The app's outbound calls: 5 a second, so a proxy gone for even a second fails some.
OUTBOUND_INTERVAL_S = 0.2
_CONF_VOLUME = "proxy-conf"
_CONF_KEY = "nginx.conf"


def nginx_conf(
    listen: int = PROXY_PORT,
    upstream_port: int = APP_PORT,
    *,
    egress_upstream: str | None = None,
    egress_listen: int = EGRESS_PORT,
) -> str:
    """An nginx.conf that listens on `listen` and passes everything to 127.0.0.1:
    `upstream_port`, for Debian's nginx (mounted over /etc/nginx/nginx.conf). With
    `egress_upstream` ("host:port"), also an egress for the app's outbound calls on
    127.0.0.1:`egress_listen`, passing to it."""
    egress = ""
    if egress_upstream is not None:
        # A name in proxy_pass is resolved once, when nginx starts (the Service must
        # exist by then); an address needs no resolver at all.
        egress = f"""
    # The app's outbound calls (its OUTBOUND_URL), as a mesh's sidecar carries them:
    # on loopback only, to the upstream Service.
    server {{
        listen 127.0.0.1:{egress_listen};
        location / {{
            proxy_pass http://{egress_upstream};
            proxy_connect_timeout 1s;
        }}
    }}
"""
    # No `daemon` directive: the image's command sets `daemon off;` already, and nginx
    # refuses a directive given twice.
    return f"""\
# The reverse proxy in front of graceproof's sample app, in the app's pod (rendered by
# graceproof.workloads.sidecar_manifests). On SIGTERM the nginx master does a fast
# shutdown: it stops listening and closes its connections at once.
user www-data;
worker_processes 1;
pid /run/nginx.pid;
# notice: the log shows "signal 15 (SIGTERM) received" and the exits, with times.
error_log stderr notice;

events {{
    worker_connections 1024;
}}

http {{
    # One line per request at a load of hundreds per second would only load the node.
    access_log off;
    server_tokens off;

    server {{
        listen {listen};
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            # The app is on loopback: a connect that takes longer has no app behind it.
            proxy_connect_timeout 1s;
        }}
    }}
{egress}}}
"""


def proxy_container(
    *,
    image: str = PROXY_IMAGE,
    kind: ProxyKind = "classic",
    sleep_seconds: int | None = None,
    stop_signal: str | None = None,
) -> dict[str, Any]:
    """The nginx container; as a native sidecar it carries `restartPolicy: Always`.
    `stop_signal`: its `lifecycle.stopSignal` (KEP-4960), e.g. SIGQUIT, nginx's
    graceful shutdown (the pod then names its OS, as the API server requires).

    It keeps the image's root user: Debian's nginx master starts as root and drops its
    workers to www-data, as a team's would."""
    spec: dict[str, Any] = {
        "name": PROXY_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "proxy", "containerPort": PROXY_PORT, "protocol": "TCP"}],
        # Through the proxy to the app's /healthz: Ready only when the whole path serves.
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": PROXY_PORT},
            "periodSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": 3,
        },
        "volumeMounts": [
            {
                "name": _CONF_VOLUME,
                "mountPath": "/etc/nginx/nginx.conf",
                "subPath": _CONF_KEY,
                "readOnly": True,
            }
        ],
    }
    if kind == "native":
        spec["restartPolicy"] = "Always"
    lifecycle: dict[str, Any] = {}
    if sleep_seconds is not None:
        lifecycle["preStop"] = {"sleep": {"seconds": sleep_seconds}}
    if stop_signal is not None:
        lifecycle["stopSignal"] = stop_signal
    if lifecycle:
        spec["lifecycle"] = lifecycle
    return spec


def _app_container(
    hook: PreStopHook, image: str, grace_seconds: int, mode: ShutdownMode, outbound: bool
) -> Any:
    # The app drains for at most what is left of the grace period after its hook.
    drain_timeout = max(1, grace_seconds - hook.holds_s - 2)
    env = (
        {
            "OUTBOUND_URL": f"http://127.0.0.1:{EGRESS_PORT}/",
            "OUTBOUND_INTERVAL": str(OUTBOUND_INTERVAL_S),
        }
        if outbound
        else None
    )
    app = container(
        hook, image=image, shutdown_mode=mode, drain_timeout=drain_timeout, extra_env=env
    )
    if not hook.writes_root_filesystem:
        # Pod Security "restricted" for the app on its own container: the pod's level
        # would take nginx's root away.
        app["securityContext"] = {**RESTRICTED_POD, **RESTRICTED_CONTAINER}
    return app


def render(
    hook: PreStopHook,
    *,
    name: str,
    image: str,
    proxy: ProxyKind,
    proxy_image: str = PROXY_IMAGE,
    proxy_sleep_s: int | None = None,
    proxy_stop_signal: str | None = None,
    replicas: int = 2,
    grace_seconds: int = 30,
    shutdown_mode: ShutdownMode = "immediate",
    node_port: int,
    variant: str = "",
    labels: Mapping[str, str] | None = None,
    egress_upstream: str | None = None,
) -> list[dict[str, Any]]:
    """The proxy's ConfigMap, a Deployment of the app (with `hook`) and its proxy, and
    a NodePort Service on the proxy's port. Checked by graceproof.workloads.sidecar.
    `egress_upstream` ("host:port"): the app calls it through the proxy's egress."""
    selector = {NAME_LABEL: name}
    all_labels = {**selector, **({VARIANT_LABEL: variant} if variant else {}), **(labels or {})}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-proxy", "labels": dict(all_labels)},
        "data": {_CONF_KEY: nginx_conf(egress_upstream=egress_upstream)},
    }
    nginx = proxy_container(
        image=proxy_image, kind=proxy, sleep_seconds=proxy_sleep_s, stop_signal=proxy_stop_signal
    )
    app = _app_container(hook, image, grace_seconds, shutdown_mode, egress_upstream is not None)
    pod_spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": grace_seconds,
        # The API server refuses a stopSignal in a pod that does not name its OS.
        **({"os": {"name": "linux"}} if proxy_stop_signal is not None else {}),
        **({"initContainers": [nginx]} if proxy == "native" else {}),
        "containers": [app] if proxy == "native" else [app, nginx],
        "volumes": [{"name": _CONF_VOLUME, "configMap": {"name": f"{name}-proxy"}}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(all_labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            # As the sample app's: the disruption is the termination, not a capacity dip.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": dict(all_labels)}, "spec": pod_spec},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(all_labels)},
        "spec": {
            "type": "NodePort",
            "selector": dict(selector),
            "ports": [
                {
                    "name": "http",
                    "port": PROXY_PORT,
                    "targetPort": PROXY_PORT,
                    "nodePort": node_port,
                    "protocol": "TCP",
                }
            ],
        },
    }
    return [config_map, deployment, service]
