"""One HTTP GET to a NodePort on 127.0.0.1, for readiness checks and hook tests.

Only loopback: graceproof sends traffic to 127.0.0.1 and to nothing else.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int  # 0 when no HTTP answer came
    body: str
    pod: str | None  # X-Pod-Name of the sample workload
    error: str | None = None


def get(port: int, path: str = "/", *, timeout: float = 2.0) -> Answer:
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return Answer(resp.status, resp.read().decode(), resp.headers.get("X-Pod-Name"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, "", exc.headers.get("X-Pod-Name"))
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return Answer(0, "", None, type(exc).__name__)


def answers(port: int, path: str = "/") -> bool | None:
    """True when the port answers 200 (None otherwise: a probe for waiting.wait_for)."""
    return True if get(port, path).status == 200 else None
