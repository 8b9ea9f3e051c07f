"""One HTTP GET to a NodePort on 127.0.0.1, for readiness checks and hook tests.

Only loopback: graceproof sends traffic to 127.0.0.1 and to nothing else.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import dataclass


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
) -> bool | None:
    """True when the port answers with a status in `expect` (any below 400 when empty);
    None otherwise: a probe for waiting.wait_for."""
    status = get(port, path, host_header=host_header).status
    ok = status in expect if expect else 0 < status < 400
    return True if ok else None


def tcp_refused(address: str, port: int, timeout: float = 2.0) -> str | None:
    """Why a TCP connection to a pod's address fails ("refused", "timed out", ...), or
    None when it connects. Only for pods of graceproof's own cluster."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timed out"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
