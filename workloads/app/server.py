#!/usr/bin/env python3
"""graceproof sample workload: a tiny HTTP app whose SIGTERM behaviour is chosen by env.

This file is its entry point, the SIGTERM handling and the drain; beside it are its
state and settings (app_state.py), its HTTP server for both roles (app_http.py), and its
optional gRPC (app_grpc.py), WebSocket (app_websocket.py) and server-sent events
(app_sse.py) servers, and its optional outbound calls (app_outbound.py).

Standard library only (its SSE server too), unless GRPC_PORT or WS_PORT is set: it runs
on a bare Debian python3 and on python:3.12-slim, as PID 1 of its container (so SIGTERM
is handled explicitly: PID 1 has no default handlers). grpc and websockets are imported inside the
functions that start their servers, never at the top: an image without them still runs
the HTTP app, and tests/unit/test_app_streams.py checks that neither is imported then.

Environment:
  PORT            listen port (default 8080; 0 picks a free port, reported in the start log)
  BIND_ADDRESS    listen address (default 0.0.0.0; tests use 127.0.0.1), for every server
  POD_NAME        the pod's name (downward API); sent as X-Pod-Name on every response
  SHUTDOWN_MODE   immediate: on SIGTERM log and exit at once, cutting in-flight and
                  keep-alive connections, gRPC calls, WebSockets and SSE streams (no
                  GOAWAY, no close frame, no `end` event: the negative control);
                  drain: on SIGTERM stop accepting, /healthz answers 503, finish in-flight
                  requests (bounded by DRAIN_TIMEOUT), answer the next request of each
                  keep-alive connection with `Connection: close` and close those idle
                  for DRAIN_IDLE_GRACE_S (1 s; the comment there says why); in
                  parallel gRPC sends GOAWAY, refuses new calls and lets the calls in
                  flight (Ticks streams too) finish within DRAIN_TIMEOUT, every open
                  WebSocket gets a close frame with code 1001 (going away), and every
                  open SSE stream an `end` event and the end of its body; exit once
                  all of them are done;
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
  SSE_PORT        optional: also serve server-sent events on this port (0 picks a free
                  port, reported as sse_port in the start log)
  SSE_INTERVAL    seconds between two SSE ticks (default 0.1)
  OUTBOUND_URL    optional: GET this URL every OUTBOUND_INTERVAL s from start until the
                  process exits (through the preStop hook, SIGTERM and the drain), one
                  `outbound` log line per call: ok, status, ms, error (app_outbound.py)
  OUTBOUND_INTERVAL  seconds between two outbound calls (default 0.2)
  The optional servers listen before the HTTP server serves: a ready /healthz implies them.

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
SSE (SSE_PORT): GET /events -> 200, `text/event-stream`, chunked, X-Pod-Name: <pod>;
  an event `id: <seq>` with data JSON {"pod", "seq": 0, 1, ..., "t": time.time()} every
  SSE_INTERVAL s until the client goes away; in a drain a last event `event: end` with
  data JSON {"pod", "reason"}, then the end of the body. Other paths 404; in a drain 503.

Logs: one JSON object per line on stdout, {"event": ..., "t": time.time(), "pod": ...}.
A drain logs drain_start when answers begin to say `Connection: close` (after any
DRAIN_DELAY), and grpc_drained, ws_closed and sse_closed (for the servers that run) before
its exit line.
A Ticks stream whose call ended early (cancelled, deadline, cut) logs ticks_stopped.
With OUTBOUND_URL, each outbound call logs one `outbound` line (ok, status, ms, error).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

# The app's modules are beside this file: on the path when it runs as a script (its
# folder comes first), and put there when it is loaded by path (the unit tests).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app_grpc import (
    drain_grpc,
    parse_ticks_request,
    parse_unary_request,
    start_grpc,
)
from app_http import Handler, Server
from app_outbound import outbound_loop
from app_sse import drain_sse, start_sse
from app_state import DRAIN_REPORT_MARGIN_S, App, OpenStreams, log, optional_port
from app_websocket import drain_ws, start_ws

__all__ = [
    "App",
    "Handler",
    "OpenStreams",
    "Server",
    "drain_and_exit",
    "drain_grpc",
    "drain_sse",
    "drain_ws",
    "log",
    "main",
    "optional_port",
    "parse_ticks_request",
    "parse_unary_request",
    "start_grpc",
    "start_sse",
    "start_ws",
]

# The exit status of a process killed by an unhandled SIGTERM: the immediate mode
# mimics an app that simply dies.
IMMEDIATE_EXIT_CODE = 128 + signal.SIGTERM
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
HEARTBEAT_S = 0.1  # SHUTDOWN_MODE=ignore: a log line this often after SIGTERM


def heartbeat(app: App) -> None:
    n = 0
    while True:
        n += 1
        log("heartbeat", app.pod, n=n)
        time.sleep(HEARTBEAT_S)


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
    # They listen before the HTTP server serves: a ready /healthz implies them.
    if app.grpc_port is not None:
        grpc_server = start_grpc(app, app.grpc_port)
        steps.append(lambda deadline: drain_grpc(app, grpc_server, deadline))
    if app.ws_port is not None:
        ws_server = start_ws(app, app.ws_port)
        steps.append(lambda deadline: drain_ws(app, ws_server, deadline))
    if app.sse_port is not None:
        sse_server = start_sse(app, app.sse_port)
        steps.append(lambda deadline: drain_sse(app, sse_server, deadline))
    optional = (("grpc_port", app.grpc_port), ("ws_port", app.ws_port), ("sse_port", app.sse_port))
    ports = {name: port for name, port in optional if port is not None}

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
    if app.outbound_url:
        # A daemon: it calls until the process exits, whatever SIGTERM starts.
        threading.Thread(target=outbound_loop, args=(app,), daemon=True).start()
    if app.role == "app":
        # The registry may start after the app: retry registration for ~30 s.
        threading.Thread(target=app.call_registry, args=("register", 30), daemon=True).start()
    server.serve_forever()
    # Reached only when the drain thread stopped the server; it ends the process.
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
