"""The sample app's WebSocket server (WS_PORT): ticks on every path, and its drain: a
close frame with 1001 (going away) to every open WebSocket. websockets is imported
inside start_ws only (see server.py's docstring)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import TYPE_CHECKING

from app_state import App, log

if TYPE_CHECKING:  # for the annotations only: the real imports are lazy
    from websockets.sync.server import Server as WebSocketServer
    from websockets.sync.server import ServerConnection

# After the close frames of a drain, websockets waits this long for each client to
# answer and close its TCP connection, then cuts it (the library's default is 10 s).
# Seen on 127.0.0.1: a client that answers the close frame but keeps its socket open
# held the drain for the whole timeout.
WS_CLOSE_TIMEOUT_S = 2.0


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
