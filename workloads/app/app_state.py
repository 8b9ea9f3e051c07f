"""The sample app's configuration and shared state: its settings from the environment,
the JSON log, the open connections and streams a drain waits for, and the registry
role's events (its endpoints: app_http.py). See server.py for the environment."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import quote

MAX_SLEEP_SECONDS = 3600.0
# A drain step waits this much past the drain deadline for its own server's report:
# grpc cancels the calls left at the end of its grace, and the report follows at once.
DRAIN_REPORT_MARGIN_S = 1.0


def log(event: str, pod: str, **fields: Any) -> None:
    """Write one JSON line to stdout in a single write(2).

    One write of a short line to a pipe is atomic, so lines from handler threads,
    the signal handler and a preStop exec hook writing to /proc/1/fd/1 never mix;
    no lock is needed, which also keeps the signal handler free of deadlocks.
    """
    record: dict[str, Any] = {"event": event, "t": time.time(), "pod": pod}
    record.update(fields)
    data = (json.dumps(record) + "\n").encode()
    while data:
        written = os.write(1, data)
        data = data[written:]


def optional_port(env: dict[str, str], name: str) -> int | None:
    """The port of an optional server: None when its variable is unset or empty."""
    value = env.get(name, "")
    if not value:
        return None
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise SystemExit(f"{name} must be a port in [0, 65535] (0: any free port), not {value!r}")
    return port


class OpenStreams:
    """A thread-safe set of the open streams of one protocol (gRPC calls, WebSockets,
    SSE streams)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._items: set[Any] = set()

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.add(item)

    def discard(self, item: Any) -> None:
        with self._lock:
            self._items.discard(item)
            self._lock.notify_all()

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self._items)

    def wait_empty(self, timeout: float) -> int:
        """Wait until none is open; return how many still are."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return len(self._items)


class App:
    """Configuration and the shared shutdown state of the server."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pod = env.get("POD_NAME") or socket.gethostname()
        self.mode = env.get("SHUTDOWN_MODE", "immediate")
        if self.mode not in ("immediate", "drain", "ignore"):
            raise SystemExit(
                f"SHUTDOWN_MODE must be 'immediate', 'drain' or 'ignore', not {self.mode!r}"
            )
        self.role = env.get("APP_ROLE", "app")
        if self.role not in ("app", "registry"):
            raise SystemExit(f"APP_ROLE must be 'app' or 'registry', not {self.role!r}")
        self.drain_timeout = float(env.get("DRAIN_TIMEOUT", "20"))
        self.drain_delay = float(env.get("DRAIN_DELAY", "0"))
        if not 0 <= self.drain_delay <= MAX_SLEEP_SECONDS:
            raise SystemExit(f"DRAIN_DELAY must be in [0, {MAX_SLEEP_SECONDS}] seconds")
        # Set at SIGTERM in drain mode: /healthz answers 503 while the app still serves.
        self.unready = threading.Event()
        self.port = int(env.get("PORT", "8080"))
        self.bind_address = env.get("BIND_ADDRESS", "0.0.0.0")
        self.registry_url = (env.get("REGISTRY_URL") or "").rstrip("/")
        self.grpc_port = optional_port(env, "GRPC_PORT")
        self.ws_port = optional_port(env, "WS_PORT")
        self.ws_interval = float(env.get("WS_INTERVAL", "0.1"))
        if not 0 < self.ws_interval <= MAX_SLEEP_SECONDS:
            raise SystemExit(f"WS_INTERVAL must be in (0, {MAX_SLEEP_SECONDS}] seconds")
        self.sse_port = optional_port(env, "SSE_PORT")
        self.sse_interval = float(env.get("SSE_INTERVAL", "0.1"))
        if not 0 < self.sse_interval <= MAX_SLEEP_SECONDS:
            raise SystemExit(f"SSE_INTERVAL must be in (0, {MAX_SLEEP_SECONDS}] seconds")
        # Optional: call this URL every OUTBOUND_INTERVAL s until exit (app_outbound.py).
        self.outbound_url = env.get("OUTBOUND_URL", "")
        self.outbound_interval = float(env.get("OUTBOUND_INTERVAL", "0.2"))
        if not 0 < self.outbound_interval <= MAX_SLEEP_SECONDS:
            raise SystemExit(f"OUTBOUND_INTERVAL must be in (0, {MAX_SLEEP_SECONDS}] seconds")
        # The gRPC calls in flight, the WebSockets and SSE streams open, for the drain.
        self.grpc_calls = OpenStreams()
        self.ws_connections = OpenStreams()
        self.sse_streams = OpenStreams()
        self.draining = threading.Event()
        # Open client connections -> True while a request on it is being handled.
        self._lock = threading.Condition()
        self._connections: dict[socket.socket, bool] = {}
        self._registry_events: list[dict[str, Any]] = []
        self.sigterm_seen = False

    # --- connection tracking, for the drain ---
    def track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections[conn] = False

    def untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.pop(conn, None)
            self._lock.notify_all()

    def set_busy(self, conn: socket.socket, busy: bool) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections[conn] = busy

    def begin_drain(self) -> int:
        """Mark draining: from now on every answer says `Connection: close`, and its
        connection closes after it. Idle connections stay open (close_idle, later).
        Returns how many connections were open."""
        with self._lock:
            self.draining.set()
            return len(self._connections)

    def close_idle(self) -> int:
        """Wake the keep-alive connections still idle so their threads end; return how
        many. SHUT_RD makes the blocked read of the next request return EOF while the
        socket can still write."""
        with self._lock:
            idle = [conn for conn, busy in self._connections.items() if not busy]
            for conn in idle:
                with contextlib.suppress(OSError):  # already closed by the peer
                    conn.shutdown(socket.SHUT_RD)
            return len(idle)

    def wait_connections_closed(self, timeout: float) -> int:
        """Wait until every connection is closed; return how many are still open."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._connections:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return len(self._connections)

    # --- registry role ---
    def registry_record(self, action: str, pod: str) -> None:
        with self._lock:
            self._registry_events.append({"action": action, "pod": pod, "t": time.time()})
        log(action, self.pod, target=pod)

    def registry_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._registry_events)

    # --- calls to a registry, role app ---
    def call_registry(self, action: str, attempts: int = 1) -> None:
        """Best effort: a registry that is down must not stop the app or its hook."""
        if not self.registry_url:
            return
        url = f"{self.registry_url}/{action}?pod={quote(self.pod)}"
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(url, timeout=2.0) as response:
                    response.read()
                log(f"registry_{action}", self.pod, ok=True)
                return
            except OSError as exc:
                log(f"registry_{action}", self.pod, ok=False, attempt=attempt, error=repr(exc))
                if attempt < attempts:
                    time.sleep(1.0)
