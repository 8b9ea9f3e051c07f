#!/usr/bin/env python3
"""graceproof sample workload: a tiny HTTP app whose SIGTERM behaviour is chosen by env.

Standard library only, unless GRPC_PORT or WS_PORT is set: it runs on a bare Debian
python3 and on python:3.12-slim, as PID 1 of its container (so SIGTERM is handled
explicitly: PID 1 has no default handlers). grpc and websockets are imported inside the
functions that start their servers, never at the top: an image without them still runs
the HTTP app, and tests/unit/test_app_streams.py checks that neither is imported then.

Environment:
  PORT            listen port (default 8080; 0 picks a free port, reported in the start log)
  BIND_ADDRESS    listen address (default 0.0.0.0; tests use 127.0.0.1), for every server
  POD_NAME        the pod's name (downward API); sent as X-Pod-Name on every response
  SHUTDOWN_MODE   immediate: on SIGTERM log and exit at once, cutting in-flight and
                  keep-alive connections, gRPC calls and WebSockets (no GOAWAY, no close
                  frame: the negative control);
                  drain: on SIGTERM stop accepting, /healthz answers 503, finish in-flight
                  requests (bounded by DRAIN_TIMEOUT), answer the next request of each
                  keep-alive connection with `Connection: close` and close those idle
                  for DRAIN_IDLE_GRACE_S (1 s; the comment there says why); in
                  parallel gRPC sends GOAWAY, refuses new calls and lets the calls in
                  flight (Ticks streams too) finish within DRAIN_TIMEOUT, and every open
                  WebSocket gets a close frame with code 1001 (going away); exit once
                  all three are done;
                  ignore: on SIGTERM log it and keep serving (all protocols), with a
                  heartbeat line every 0.1 s, so the last heartbeat tells when SIGKILL came
  DRAIN_TIMEOUT   seconds the drain may take (default 20)
  DRAIN_DELAY     drain mode: seconds to keep serving after SIGTERM, /healthz answering
                  503, before the drain starts (default 0): an app that covers the
                  endpoint's removal lag by itself, without a preStop hook
  APP_ROLE        app (default) or registry (a service registry for deregistration proofs)
  REGISTRY_URL    optional, role app: register at start, deregister in the /prestop hook
  GRPC_PORT       optional: also serve gRPC on this port (0 picks a free port, reported as
                  grpc_port in the start log); needs grpcio
  WS_PORT         optional: also serve WebSockets on this port (0 picks a free port,
                  reported as ws_port in the start log); needs websockets
  WS_INTERVAL     seconds between two WebSocket ticks (default 0.1)
  Both optional servers listen before the HTTP server serves: a ready /healthz implies them.

Endpoints (role app): GET / -> "ok <pod>"; GET /healthz; GET /slow?seconds=N;
GET /prestop?sleep=N (for a preStop httpGet hook); GET /status?code=N (any status).
Endpoints (role registry): GET /register?pod=X; GET /deregister?pod=X;
GET /events -> JSON list of {"action", "pod", "t"}; GET /healthz.
gRPC (GRPC_PORT), service graceproof.Probe, raw bytes (no protobuf):
  /graceproof.Probe/Unary (unary-unary): request b"" or b"<delay_s>" (e.g. b"0.2": the
  server waits that long, capped at 10 s, so calls are in flight when a pod stops;
  anything else -> INVALID_ARGUMENT) -> the pod name, UTF-8;
  /graceproof.Probe/Ticks (unary-stream): request b"<count>,<interval_s>" (e.g. b"10,0.1";
  count capped at 10000, interval at 10 s; anything else -> INVALID_ARGUMENT) -> count
  messages, one every interval_s, each JSON {"pod", "seq": 0..count-1, "t": time.time()}.
  Both send the initial metadata x-pod-name: <pod> first (before any wait), so a call
  cut short still names its pod.
WebSocket (WS_PORT), any path: after the handshake a text message JSON
  {"pod", "seq": 0, 1, ..., "t": time.time()} every WS_INTERVAL s until the connection
  closes; messages from the client are ignored.

Logs: one JSON object per line on stdout, {"event": ..., "t": time.time(), "pod": ...}.
A drain logs drain_start when answers begin to say `Connection: close` (after any
DRAIN_DELAY), and grpc_drained and ws_closed (for the servers that run) before its exit line.
A Ticks stream whose call ended early (cancelled, deadline, cut) logs ticks_stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

if TYPE_CHECKING:  # for the annotations only: the real imports are lazy (see the docstring)
    import grpc  # type: ignore[import-untyped]
    from websockets.sync.server import Server as WebSocketServer
    from websockets.sync.server import ServerConnection

# The exit status of a process killed by an unhandled SIGTERM: the immediate mode
# mimics an app that simply dies.
IMMEDIATE_EXIT_CODE = 128 + signal.SIGTERM
MAX_SLEEP_SECONDS = 3600.0
# Idle keep-alive connections are closed after this long, so threads stay bounded.
IDLE_CONNECTION_TIMEOUT = 60.0
# A drain leaves idle keep-alive connections open this long (within DRAIN_TIMEOUT): a
# client that sends on one gets its answer, with `Connection: close`, and closes it
# itself. Only the connections idle all this time are closed by the server then.
#
# Why closing an idle connection can lose a request, and why no server can rule it out
# in HTTP/1.1: the client may have sent its next request on it at the moment the
# server closed it; the request meets a closed socket and gets no byte of answer. HTTP/1.1
# has no way to tell a client "send nothing more here" other than an answer (HTTP/2 has
# GOAWAY); RFC 9112, section 9.3.1 leaves it to clients to send such a request again,
# and graceproof counts it as `retryable` (graceproof.failures). Waiting for each
# connection's next request first makes the race need a client idle for the whole
# grace and then sending in the instant of the close.
DRAIN_IDLE_GRACE_S = 1.0
GRPC_SERVICE = "graceproof.Probe"
GRPC_WORKERS = 64  # each call in flight (a Ticks stream too) holds one worker thread
TICKS_MAX_COUNT = 10000
TICKS_MAX_INTERVAL_S = 10.0
TICKS_FORMAT = "ASCII '<count>,<interval_s>', e.g. '10,0.1'"
MAX_UNARY_DELAY_S = 10.0
UNARY_FORMAT = "an empty request or ASCII '<delay_s>', e.g. '0.2'"
# A drain step waits this much past the drain deadline for its own server's report:
# grpc cancels the calls left at the end of its grace, and the report follows at once.
DRAIN_REPORT_MARGIN_S = 1.0
# After the close frames of a drain, websockets waits this long for each client to
# answer and close its TCP connection, then cuts it (the library's default is 10 s).
# Seen on 127.0.0.1: a client that answers the close frame but keeps its socket open
# held the drain for the whole timeout.
WS_CLOSE_TIMEOUT_S = 2.0


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
    """A thread-safe set of the open streams of one protocol (gRPC calls, WebSockets)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: set[Any] = set()

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.add(item)

    def discard(self, item: Any) -> None:
        with self._lock:
            self._items.discard(item)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self._items)


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
        # The gRPC calls in flight and the WebSockets open, counted by the drain.
        self.grpc_calls = OpenStreams()
        self.ws_connections = OpenStreams()
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


def heartbeat(app: App) -> None:
    n = 0
    while True:
        n += 1
        log("heartbeat", app.pod, n=n)
        time.sleep(HEARTBEAT_S)


# --- gRPC (GRPC_PORT) ---
def parse_unary_request(request: bytes) -> float | None:
    """b"" -> 0; b"<delay_s>" -> the delay, capped; None if malformed."""
    if not request:
        return 0.0
    try:
        delay = float(request.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not math.isfinite(delay) or delay < 0:
        return None
    return min(delay, MAX_UNARY_DELAY_S)


def parse_ticks_request(request: bytes) -> tuple[int, float] | None:
    """b"<count>,<interval_s>" -> (count, interval) capped; None if malformed."""
    try:
        count_text, interval_text = request.decode("ascii").split(",")
        count, interval = int(count_text), float(interval_text)
    except (UnicodeDecodeError, ValueError):
        return None
    if count < 0 or not math.isfinite(interval) or interval < 0:
        return None
    return min(count, TICKS_MAX_COUNT), min(interval, TICKS_MAX_INTERVAL_S)


def start_grpc(app: App, port: int) -> grpc.Server:
    """Serve graceproof.Probe with raw bytes (no protobuf) on port (0: a free one, kept in
    app.grpc_port); return the started server."""
    import grpc  # lazy: see the module docstring

    metadata = (("x-pod-name", app.pod),)

    def ended_event(context: grpc.ServicerContext) -> threading.Event:
        """Set when the call ends for any reason: the client cancelled or went away, or
        the drain's grace ran out. A drain alone leaves the call active: calls in flight
        finish, which is what a graceful gRPC shutdown promises."""
        ended = threading.Event()
        context.add_callback(ended.set)
        return ended

    def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
        delay = parse_unary_request(request)
        if delay is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Unary wants {UNARY_FORMAT}")
            return b""  # not reached: abort raises
        # Headers first: a call cut during its delay still tells the client its pod.
        context.send_initial_metadata(metadata)
        app.grpc_calls.add(context)
        try:
            if delay and ended_event(context).wait(delay):
                return b""  # the call is over; nobody reads this
            return app.pod.encode()
        finally:
            app.grpc_calls.discard(context)

    def ticks(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        parsed = parse_ticks_request(request)
        if parsed is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Ticks wants {TICKS_FORMAT}")
            return  # not reached: abort raises
        count, interval = parsed
        ended = ended_event(context)
        app.grpc_calls.add(context)
        sent = 0
        try:
            context.send_initial_metadata(metadata)
            for seq in range(count):
                if (seq > 0 and ended.wait(interval)) or not context.is_active():
                    return  # the call ended under the stream: stop now, not at its end
                sent = seq + 1
                yield json.dumps({"pod": app.pod, "seq": seq, "t": time.time()}).encode()
        finally:
            app.grpc_calls.discard(context)
            # Also reached when grpc itself stops asking for messages (the call ended
            # while it sent one) and the generator is closed: GeneratorExit at the yield.
            if sent < count:
                log("ticks_stopped", app.pod, sent=sent, count=count)

    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE,
        {
            # No (de)serializers: requests and responses are raw bytes.
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Ticks": grpc.unary_stream_rpc_method_handler(ticks),
        },
    )
    # grpc sets SO_REUSEPORT by default: a second app on the same fixed port would then
    # start without error and share the traffic. Off, the bind fails as HTTP's does.
    server = grpc.server(
        ThreadPoolExecutor(max_workers=GRPC_WORKERS), options=[("grpc.so_reuseport", 0)]
    )
    server.add_generic_rpc_handlers((handler,))
    host = f"[{app.bind_address}]" if ":" in app.bind_address else app.bind_address
    app.grpc_port = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server


def drain_grpc(app: App, server: grpc.Server, deadline: float) -> None:
    """GOAWAY and refuse new calls at once; let calls in flight finish until deadline."""
    calls = len(app.grpc_calls.snapshot())
    began = time.monotonic()
    grace = max(0.0, deadline - began)
    stopped = server.stop(grace=grace).wait(grace + DRAIN_REPORT_MARGIN_S)
    took = time.monotonic() - began
    # After its grace grpc cancels the calls left: stopping later means they were cut.
    reason = "drained" if stopped and (took < grace or not calls) else "timeout"
    log("grpc_drained", app.pod, reason=reason, calls=calls, seconds=round(took, 3))


# --- WebSocket (WS_PORT) ---
def start_ws(app: App, port: int) -> WebSocketServer:
    """Serve ticks on every WebSocket path on port (0: a free one, kept in app.ws_port);
    return the server, accepting in a thread of its own."""
    from websockets.exceptions import ConnectionClosed  # lazy: see the module docstring
    from websockets.sync.server import serve

    def ticks(connection: ServerConnection) -> None:
        app.ws_connections.add(connection)
        try:
            seq, next_at = 0, time.monotonic()
            while True:
                connection.send(json.dumps({"pod": app.pod, "seq": seq, "t": time.time()}))
                seq += 1
                next_at += app.ws_interval
                # Waiting in recv rather than sleeping: a close (by the client, or by the
                # drain) ends the wait at once. Messages from the client are ignored.
                while (left := next_at - time.monotonic()) > 0:
                    with contextlib.suppress(TimeoutError):
                        connection.recv(timeout=left)
        except ConnectionClosed:
            pass
        finally:
            app.ws_connections.discard(connection)

    server = serve(ticks, app.bind_address, port, close_timeout=WS_CLOSE_TIMEOUT_S)
    app.ws_port = server.socket.getsockname()[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def drain_ws(app: App, server: WebSocketServer, deadline: float) -> None:
    """Stop accepting, close every open WebSocket with 1001 (going away), wait for them."""
    streams = len(app.ws_connections.snapshot())
    # shutdown() closes the listener, answers 503 to handshakes in progress, sends each
    # open connection a close frame with this code and waits for the handlers to end.
    closing = threading.Thread(
        target=server.shutdown, kwargs={"code": 1001, "reason": "server draining"}, daemon=True
    )
    closing.start()
    closing.join(max(0.0, deadline - time.monotonic()))
    reason = "timeout" if closing.is_alive() else "closed"
    left = len(app.ws_connections.snapshot())
    log("ws_closed", app.pod, reason=reason, streams=streams, streams_left=left)


DrainStep = Callable[[float], None]  # a server's drain, given the monotonic deadline


def drain_and_exit(app: App, server: Server, steps: tuple[DrainStep, ...] = ()) -> None:
    """Runs in its own thread: stop accepting, let connections finish, exit.

    The optional servers drain in parallel, each in its thread (steps); the exit waits
    for them too, bounded by DRAIN_TIMEOUT (plus the report margin).
    """
    # An app's own cover for the endpoint's removal lag: unready, still serving.
    app.unready.set()
    if app.drain_delay:
        log("drain_delay", app.pod, seconds=app.drain_delay)
        time.sleep(app.drain_delay)
    deadline = time.monotonic() + app.drain_timeout
    # Draining first: /healthz answers 503 and every response says Connection: close,
    # also on connections accepted before the accept loop below has stopped.
    open_at_start = app.begin_drain()
    log("drain_start", app.pod, connections=open_at_start)
    threads = [threading.Thread(target=step, args=(deadline,), daemon=True) for step in steps]
    for thread in threads:
        thread.start()
    server.shutdown()  # returns once serve_forever has stopped accepting
    server.socket.close()  # new connections are now refused by the kernel
    # Each kept-alive connection's next request closes it (DRAIN_IDLE_GRACE_S says why).
    grace = min(DRAIN_IDLE_GRACE_S, app.drain_timeout)
    app.wait_connections_closed(grace)
    idle_closed = app.close_idle()
    left = app.wait_connections_closed(max(0.0, deadline - time.monotonic()))
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + DRAIN_REPORT_MARGIN_S)
    log(
        "exit",
        app.pod,
        mode="drain",
        reason="timeout" if left else "drained",
        connections_at_sigterm=open_at_start,
        idle_closed=idle_closed,
        connections_cut=left,
    )
    os._exit(0)


def main() -> None:
    app = App(dict(os.environ))
    server = Server(app)
    steps: list[DrainStep] = []
    # Both listen before the HTTP server serves: a ready /healthz implies them.
    if app.grpc_port is not None:
        grpc_server = start_grpc(app, app.grpc_port)
        steps.append(lambda deadline: drain_grpc(app, grpc_server, deadline))
    if app.ws_port is not None:
        ws_server = start_ws(app, app.ws_port)
        steps.append(lambda deadline: drain_ws(app, ws_server, deadline))
    ports = {
        name: port
        for name, port in (("grpc_port", app.grpc_port), ("ws_port", app.ws_port))
        if port is not None
    }

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
        threading.Thread(
            target=drain_and_exit, args=(app, server, tuple(steps)), daemon=True
        ).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    log(
        "start",
        app.pod,
        mode=app.mode,
        role=app.role,
        port=server.server_address[1],
        **ports,
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
