"""The sample app's server-sent events server (SSE_PORT), standard library only:
GET /events answers a `text/event-stream` with a tick every SSE_INTERVAL s, and its
drain: every open stream gets a last event, `end`, then the end of its chunked body.

SSE has no close frame of its own (WebSocket's 1001, gRPC's GOAWAY). A server that means
to end a stream says so in the stream: here a last event named `end`, after which the
client reconnects (graceproof.traffic.sse takes it as a clean end). A stream that stops
without it, be it an EOF or a reset (an app that died), is cut. The body is chunked, as
SSE servers send it over HTTP/1.1 (and as a client reads events the moment they come);
the closing zero-length chunk follows the `end` event.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from app_state import App, log

SSE_PATH = "/events"
END_EVENT = "end"  # the name of the last event of a stream the server ends itself
# A write that cannot go out for this long (a client that stopped reading) ends its
# stream; so does any other error of the socket (the client went away).
SSE_WRITE_TIMEOUT_S = 10.0


class SseServer(ThreadingHTTPServer):
    daemon_threads = True
    # As the HTTP server's: a burst of reconnections must not lose a SYN.
    request_queue_size = 128

    def __init__(self, app: App, port: int) -> None:
        self.app = app
        # Set by the drain: open streams end with the `end` event, new ones get 503.
        self.closing = threading.Event()
        super().__init__((app.bind_address, port), SseHandler)


class SseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SSE_WRITE_TIMEOUT_S
    # Each event leaves at once, in one segment: no Nagle delay between ticks.
    disable_nagle_algorithm = True
    server: SseServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the JSON log carries what matters

    def refuse(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Pod-Name", self.server.app.pod)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        app = self.server.app
        if urlsplit(self.path).path != SSE_PATH:
            self.refuse(404, f"not found: the events are at {SSE_PATH}\n")
            return
        if self.server.closing.is_set():
            self.refuse(503, "draining\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        # Before any event: a stream cut before its first one still names its pod.
        self.send_header("X-Pod-Name", app.pod)
        self.end_headers()
        self.close_connection = True  # one stream per connection
        app.sse_streams.add(self)
        try:
            self.ticks(app)
        except OSError:  # the client went away: a reset, a broken pipe, a write timeout
            pass
        finally:
            app.sse_streams.discard(self)

    def ticks(self, app: App) -> None:
        seq, next_at = 0, time.monotonic()
        while True:
            self.send_event(json.dumps({"pod": app.pod, "seq": seq, "t": time.time()}), seq)
            seq += 1
            next_at += app.sse_interval
            # Waiting on the drain's event rather than sleeping: it ends the wait at once.
            if self.server.closing.wait(max(0.0, next_at - time.monotonic())):
                self.send_event(json.dumps({"pod": app.pod, "reason": "server draining"}))
                self.wfile.write(b"0\r\n\r\n")  # the chunked body's end
                return

    def send_event(self, data: str, seq: int | None = None) -> None:
        """One event as one chunk: a tick (`id: <seq>`), or the `end` event (no seq)."""
        fields = [f"id: {seq}"] if seq is not None else [f"event: {END_EVENT}"]
        payload = "\n".join([*fields, f"data: {data}", "", ""]).encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))


def start_sse(app: App, port: int) -> SseServer:
    """Serve events on port (0: a free one, kept in app.sse_port); return the server,
    accepting in a thread of its own."""
    server = SseServer(app, port)
    app.sse_port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def drain_sse(app: App, server: SseServer, deadline: float) -> None:
    """End every open stream with the `end` event, refuse new ones (503, then the closed
    listener), and wait for the streams to be gone."""
    streams = len(app.sse_streams.snapshot())
    server.closing.set()  # each stream sends its `end` event now
    server.shutdown()  # returns once serve_forever has stopped accepting
    server.server_close()  # new connections are now refused by the kernel
    left = app.sse_streams.wait_empty(max(0.0, deadline - time.monotonic()))
    reason = "timeout" if left else "closed"
    log("sse_closed", app.pod, reason=reason, streams=streams, streams_left=left)
