"""The sample app's outbound calls (OUTBOUND_URL), standard library only: what a mesh's
sidecar carries the other way, from the app to the services it depends on.

From its start until the process exits, the app calls OUTBOUND_URL every
OUTBOUND_INTERVAL seconds and logs each call as one `outbound` line: ok, the HTTP
status (0 when no answer came), how long it took and, when it failed, why. The thread
is a daemon that nothing stops but the process's exit, so the calls go on through the
preStop hook, after SIGTERM and through the drain: exactly when a proxy that stopped
first would fail them.

One line per call, on purpose: the timeline then tells, per pod and to the call, how
many were made after the pod's deletion and how many of those failed. At the default
interval (0.2 s) it is 5 lines a second, cheap beside the load's hundreds of requests.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from typing import Any

from app_state import App, log

# A call to a proxy on loopback answers within milliseconds; one that takes a second
# has nothing behind it, and the next call is due.
OUTBOUND_TIMEOUT_S = 1.0

# No proxy from the environment (http_proxy, no_proxy): every call must go to
# OUTBOUND_URL itself, the in-pod proxy, and a host's proxy settings must not reroute
# the unit tests' calls.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call_once(url: str, timeout: float = OUTBOUND_TIMEOUT_S) -> dict[str, Any]:
    """One GET of `url`: {"ok", "status", "ms"} and, when not ok, {"error"}: the
    exception's class (ConnectionRefusedError: nothing listens, the proxy is gone;
    TimeoutError; RemoteDisconnected) or "http" for an answer other than 2xx."""
    began = time.monotonic()
    status = 0
    error = ""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:  # an answer, but a failed one (a 502 say)
        status, error = exc.code, "http"
    except urllib.error.URLError as exc:  # no answer: say why, not urllib's wrapper
        reason = exc.reason
        error = type(reason).__name__ if isinstance(reason, BaseException) else str(reason)
    except (OSError, http.client.HTTPException) as exc:  # cut while reading the answer
        error = type(exc).__name__
    out: dict[str, Any] = {
        "ok": not error,
        "status": status,
        "ms": round((time.monotonic() - began) * 1000, 1),
    }
    if error:
        out["error"] = error
    return out


def outbound_loop(app: App) -> None:
    """Call app.outbound_url every app.outbound_interval seconds until the process
    exits; a slow call delays the next one instead of being followed by a burst."""
    while True:
        began = time.monotonic()
        log("outbound", app.pod, **call_once(app.outbound_url))
        time.sleep(max(0.0, app.outbound_interval - (time.monotonic() - began)))
