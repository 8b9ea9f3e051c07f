"""Probes: one HTTP GET to a NodePort on 127.0.0.1 (readiness checks, hook tests), and
one connection to a pod's port made by the API server (why a target is silent).

graceproof sends traffic to 127.0.0.1 and to pods of its own clusters, nothing else.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from graceproof.kube import Kube, api_message


@dataclass(frozen=True)
class Answer:
    status: int  # 0 when no HTTP answer came
    body: str
    pod: str | None  # X-Pod-Name of the sample workload
    error: str | None = None


def get(
    port: int, path: str = "/", *, timeout: float = 2.0, host_header: str | None = None
) -> Answer:
    url = f"http://127.0.0.1:{port}{path}"
    request = urllib.request.Request(url, headers={"Host": host_header} if host_header else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return Answer(resp.status, resp.read().decode(), resp.headers.get("X-Pod-Name"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, "", exc.headers.get("X-Pod-Name"))
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return Answer(0, "", None, type(exc).__name__)


def answers(
    port: int,
    path: str = "/",
    *,
    host_header: str | None = None,
    expect: tuple[int, ...] = (200,),
    timeout: float = 2.0,
) -> bool | None:
    """True when the port answers with a status in `expect` (any below 400 when empty)
    within `timeout`; None otherwise: a probe for waiting.wait_for."""
    status = get(port, path, timeout=timeout, host_header=host_header).status
    ok = status in expect if expect else 0 < status < 400
    return True if ok else None


def pod_port_refuses(
    kube: Kube, namespace: str, pod: str, port: int, timeout: float = 5.0
) -> str | None:
    """Why a TCP connection to `port` of `pod` fails ("refused", "timed out", ...), or
    None when it connects.

    The API server makes the connection (the pods/proxy subresource), not this host:
    on kind the pod network lives inside the node containers and is not routed here, so
    a dial from here only ever timed out, and a port nobody listens on was reported as
    "no answer" instead of "refused". One path for every cluster: the API server
    reaches its pods on the local cluster as on kind.
    """
    try:
        kube.core.connect_get_namespaced_pod_proxy(
            f"{pod}:{port}", namespace, _request_timeout=timeout, _preload_content=False
        ).release_conn()
    except ApiException as exc:
        message = api_message(exc)
        if exc.status == 403 and "pods/proxy" in message:  # RBAC without pods/proxy
            return f"could not be reached through the API server ({message})"
        # The proxy's own failures are a Status saying it could not reach the pod; any
        # other answer, an error status included, came from the container: it connects.
        if "error trying to reach service" not in message:
            return None
        for words, why in _DIAL_ERRORS:
            if words in message:
                return why
        return None  # reached, then e.g. "malformed HTTP response": not an HTTP port
    except (urllib3.exceptions.HTTPError, TimeoutError):
        return "timed out"
    return None


# What the API server's dialer says, in the words of this module's callers.
_DIAL_ERRORS = (
    ("connection refused", "refused"),
    ("i/o timeout", "timed out"),
    ("deadline exceeded", "timed out"),
    ("no route to host", "has no route"),
)
