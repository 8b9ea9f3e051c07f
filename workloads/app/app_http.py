"""The sample app's HTTP server: the app role's endpoints (/, /slow, /status, /prestop),
the registry role's (/register, /deregister, /events), /healthz for both, and the
per-connection bookkeeping a drain relies on (App.track, set_busy)."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app_state import MAX_SLEEP_SECONDS, App, log

# Idle keep-alive connections are closed after this long, so threads stay bounded.
IDLE_CONNECTION_TIMEOUT = 60.0


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
        # No close here when draining: an answer sent before the drain began did not say
        # `Connection: close`, so its client may be sending the next request right now;
        # closing would lose it. That request gets its answer, with `Connection: close`
        # (end_headers; http.server then closes), or the connection is closed once idle
        # for DRAIN_IDLE_GRACE_S (drain_and_exit).
        try:
            super().handle_one_request()
        finally:
            self.app.set_busy(self.connection, False)

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
            if self.app.draining.is_set() or self.app.unready.is_set():
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
