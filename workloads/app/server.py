#!/usr/bin/env python3
"""graceproof sample workload: a tiny HTTP app whose SIGTERM behaviour is chosen by env.

Standard library only: it runs on a bare Debian python3 and on python:3.12-slim, as
PID 1 of its container (so SIGTERM is handled explicitly: PID 1 has no default handlers).

Environment:
  PORT            listen port (default 8080; 0 picks a free port, reported in the start log)
  BIND_ADDRESS    listen address (default 0.0.0.0; tests use 127.0.0.1)
  POD_NAME        the pod's name (downward API); sent as X-Pod-Name on every response
  SHUTDOWN_MODE   immediate: on SIGTERM log and exit at once, cutting in-flight and
                  keep-alive connections (the negative control);
                  drain: on SIGTERM stop accepting, /healthz answers 503, finish in-flight
                  requests (bounded by DRAIN_TIMEOUT), close keep-alive connections, exit;
                  ignore: on SIGTERM log it and keep serving, with a heartbeat line every
                  0.1 s, so the last heartbeat tells when SIGKILL came
  DRAIN_TIMEOUT   seconds the drain may take (default 20)
  APP_ROLE        app (default) or registry (a service registry for deregistration proofs)
  REGISTRY_URL    optional, role app: register at start, deregister in the /prestop hook

Endpoints (role app): GET / -> "ok <pod>"; GET /healthz; GET /slow?seconds=N;
GET /prestop?sleep=N (for a preStop httpGet hook); GET /status?code=N (any status).
Endpoints (role registry): GET /register?pod=X; GET /deregister?pod=X;
GET /events -> JSON list of {"action", "pod", "t"}; GET /healthz.

Logs: one JSON object per line on stdout, {"event": ..., "t": time.time(), "pod": ...}.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

# The exit status of a process killed by an unhandled SIGTERM: the immediate mode
# mimics an app that simply dies.
IMMEDIATE_EXIT_CODE = 128 + signal.SIGTERM
MAX_SLEEP_SECONDS = 3600.0
# Idle keep-alive connections are closed after this long, so threads stay bounded.
IDLE_CONNECTION_TIMEOUT = 60.0


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


HEARTBEAT_S = 0.1  # SHUTDOWN_MODE=ignore: a log line this often after SIGTERM


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
        self.port = int(env.get("PORT", "8080"))
        self.bind_address = env.get("BIND_ADDRESS", "0.0.0.0")
        self.registry_url = (env.get("REGISTRY_URL") or "").rstrip("/")
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
        """Mark draining and wake idle keep-alive connections so their threads end.

        SHUT_RD makes the blocked read of the next request return EOF while the
        socket can still write, so a request that raced in is still answered.
        Returns how many connections were open.
        """
        with self._lock:
            self.draining.set()
            for conn, busy in self._connections.items():
                if not busy:
                    with contextlib.suppress(OSError):  # already closed by the peer
                        conn.shutdown(socket.SHUT_RD)
            return len(self._connections)

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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # A deep backlog: a burst of new connections must not be dropped (a dropped SYN
    # costs the client a 1 s retransmit, which would look like a termination error).
    request_queue_size = 128

    def __init__(self, app: App) -> None:
        self.app = app
        super().__init__((app.bind_address, app.port), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive by default
    timeout = IDLE_CONNECTION_TIMEOUT
    # Headers and body leave in one segment (flushed after each request) and without
    # Nagle: otherwise delayed ACKs add ~40 ms to every keep-alive request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: Server

    @property
    def app(self) -> App:
        return self.server.app

    def setup(self) -> None:
        super().setup()
        self.app.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.app.untrack(self.connection)

    def parse_request(self) -> bool:
        # The request line has arrived: from here on the connection is busy.
        self.app.set_busy(self.connection, True)
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self.app.set_busy(self.connection, False)
            if self.app.draining.is_set():
                self.close_connection = True

    def end_headers(self) -> None:
        self.send_header("X-Pod-Name", self.app.pod)
        if self.app.draining.is_set():
            # Tells a keep-alive client to reconnect (to another pod) for its next request.
            self.send_header("Connection", "close")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the JSON log carries what matters; access logs would drown it

    def reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def seconds_param(self, query: dict[str, list[str]], name: str) -> float | None:
        try:
            value = float(query.get(name, ["0"])[0])
        except ValueError:
            return None
        return value if 0 <= value <= MAX_SLEEP_SECONDS else None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/healthz":
            if self.app.draining.is_set():
                self.reply(503, "draining\n")
            else:
                self.reply(200, "ok\n")
        elif self.app.role == "registry":
            self.registry_get(url.path, query)
        else:
            self.app_get(url.path, query)

    def app_get(self, path: str, query: dict[str, list[str]]) -> None:
        app = self.app
        if path == "/":
            self.reply(200, f"ok {app.pod}\n")
        elif path == "/slow":
            seconds = self.seconds_param(query, "seconds")
            if seconds is None:
                self.reply(400, f"seconds must be a number in [0, {MAX_SLEEP_SECONDS}]\n")
                return
            log("slow_start", app.pod, seconds=seconds)
            time.sleep(seconds)
            self.reply(200, f"ok {app.pod} slept {seconds}\n")
        elif path == "/status":
            # Any status on demand: lets tests see how clients classify errors.
            try:
                code = int(query.get("code", ["200"])[0])
            except ValueError:
                code = 0
            if not 200 <= code <= 599:
                self.reply(400, "code must be an HTTP status in [200, 599]\n")
                return
            self.reply(code, f"status {code} from {app.pod}\n")
        elif path == "/prestop":
            seconds = self.seconds_param(query, "sleep")
            if seconds is None:
                self.reply(400, f"sleep must be a number in [0, {MAX_SLEEP_SECONDS}]\n")
                return
            log("hook_start", app.pod, hook="http", sleep=seconds)
            app.call_registry("deregister")
            time.sleep(seconds)
            log("hook_end", app.pod, hook="http")
            self.reply(200, "ok\n")
        else:
            self.reply(404, "not found\n")

    def registry_get(self, path: str, query: dict[str, list[str]]) -> None:
        if path in ("/register", "/deregister"):
            pod = query.get("pod", [""])[0]
            if not pod:
                self.reply(400, "pod is required\n")
                return
            self.app.registry_record(path.lstrip("/"), pod)
            self.reply(200, "ok\n")
        elif path == "/events":
            self.reply(200, json.dumps(self.app.registry_events()), "application/json")
        elif path == "/":
            self.reply(200, f"ok {self.app.pod}\n")
        else:
            self.reply(404, "not found\n")


def heartbeat(app: App) -> None:
    n = 0
    while True:
        n += 1
        log("heartbeat", app.pod, n=n)
        time.sleep(HEARTBEAT_S)


def drain_and_exit(app: App, server: Server) -> None:
    """Runs in its own thread: stop accepting, let connections finish, exit."""
    # Draining first: /healthz answers 503 and every response says Connection: close,
    # also on connections accepted before the accept loop below has stopped.
    open_at_start = app.begin_drain()
    server.shutdown()  # returns once serve_forever has stopped accepting
    server.socket.close()  # new connections are now refused by the kernel
    left = app.wait_connections_closed(app.drain_timeout)
    log(
        "exit",
        app.pod,
        mode="drain",
        reason="timeout" if left else "drained",
        connections_at_sigterm=open_at_start,
        connections_cut=left,
    )
    os._exit(0)


def main() -> None:
    app = App(dict(os.environ))
    server = Server(app)

    def on_sigterm(signum: int, _frame: object) -> None:
        if app.sigterm_seen:
            return  # a second signal changes nothing; the drain is bounded already
        app.sigterm_seen = True
        log("sigterm", app.pod, mode=app.mode, signal=signal.Signals(signum).name)
        if app.mode == "ignore":
            # Keep serving and say so every 0.1 s: the last heartbeat before the
            # container died tells when SIGKILL came (a process cannot log its own kill).
            threading.Thread(target=heartbeat, args=(app,), daemon=True).start()
            return
        if app.mode == "immediate":
            log("exit", app.pod, mode="immediate", code=IMMEDIATE_EXIT_CODE)
            # os._exit skips cleanup on purpose: every open connection is cut.
            os._exit(IMMEDIATE_EXIT_CODE)
        threading.Thread(target=drain_and_exit, args=(app, server), daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    log(
        "start",
        app.pod,
        mode=app.mode,
        role=app.role,
        port=server.server_address[1],
        pid=os.getpid(),
        python=sys.version.split()[0],
    )
    if app.role == "app":
        # The registry may start after the app: retry registration for ~30 s.
        threading.Thread(target=app.call_registry, args=("register", 30), daemon=True).start()
    server.serve_forever()
    # Reached only when the drain thread stopped the server; it ends the process.
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
