"""Locust load for graceproof's WebSocket traffic kind (graceproof.traffic.websocket).

Each user holds one stream (websocket-client, the WebSocket library Locust's own
plugins use) to ws://127.0.0.1:<port>/ and reads the message the app sends every
0.1 s. A stream is one record, written when it ends:
  - the server closed it with a close frame: ok when the code is 1000 or 1001 (a
    draining app says "going away"), else `stream_error`; `status` is the code;
  - the run ended: the client closes it (1000), ok;
  - it ended without a close frame (EOF, a reset: the app died): `stream_cut`;
  - no message for GRACEPROOF_TIMEOUT seconds: `timeout`;
  - it never opened: the connection's error kind, or `handshake` (not a 101).
`detail`: messages received, who closed it, and on the next stream of the same user,
`reconnect_s` (from the end of the previous stream to this one's first message) and
`previous_pod`. A line per stream opened goes to GRACEPROOF_PROGRESS, as the records
only come when streams end. Closed mode only (a held stream is not an arrival).
Records, timeouts and the target check are workloads/locustfile.py's.
"""

from __future__ import annotations

import json
import struct
import time
from typing import Any

import websocket  # type: ignore[import-untyped]  # websocket-client

import locustfile as base  # Locust puts this file's folder first on sys.path

base.CONNECTIONS.add("websocket")
settings = base.settings
# How often a held stream looks up from its socket: to notice the end of the run.
POLL_S = 0.25
CLEAN_CLOSE_CODES = (1000, 1001)
NO_STATUS_CODE = 1005  # a close frame without a code (RFC 6455, 7.4.1)


def close_code(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else NO_STATUS_CODE


class Stream:
    """One stream's state while it is held."""

    def __init__(self) -> None:
        self.messages = 0
        self.pod: str | None = None
        self.first_at: float | None = None  # perf_counter of the first message
        self.last_at = time.perf_counter()

    def received(self, data: bytes) -> None:
        self.messages += 1
        self.last_at = time.perf_counter()
        if self.first_at is None:
            self.first_at = self.last_at
            self.pod = json.loads(data).get("pod")


class WebSocketUser(base.GraceproofUser):
    """Holds a stream; when it ends, opens the next one (after the user's pause)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.url = f"ws://{settings.target_address}:{self.port}/"
        self.ended_at: float | None = None  # perf_counter: the previous stream's end
        self.previous_pod: str | None = None

    def label(self) -> tuple[str, str]:
        return "websocket", "stream"

    def stopping(self) -> bool:
        return self._state == "stopping" or base.is_stopping(self.environment.runner)

    def attempt(self) -> base.Outcome:
        try:
            ws = websocket.create_connection(self.url, timeout=settings.timeout_s)
        except websocket.WebSocketBadStatusException as exc:
            return base.Outcome(int(exc.status_code), "handshake", None, exc)
        except websocket.WebSocketTimeoutException as exc:
            return base.Outcome(0, "timeout", None, exc)
        except Exception as exc:  # every failure is data: classify and record it
            return base.Outcome(0, base.classify(exc, 0), None, exc)
        base.progress()
        stream = Stream()
        try:
            out = self.hold(ws, stream)
        finally:
            ws.shutdown()  # closes the socket without another close frame
        detail: dict[str, Any] = {**(out.detail or {}), "messages": stream.messages}
        if self.ended_at is not None and stream.first_at is not None:
            # Failed attempts in between count: the gap is what a client lived with.
            detail["reconnect_s"] = round(stream.first_at - self.ended_at, 4)
            detail["previous_pod"] = self.previous_pod
        out.detail = detail
        self.ended_at, self.previous_pod = time.perf_counter(), stream.pod
        return out

    def hold(self, ws: Any, stream: Stream) -> base.Outcome:
        """Read until the stream ends; what ended it."""
        ws.settimeout(POLL_S)
        while True:
            # Looked at after every message too: a stream that talks every 0.1 s never
            # times out, and the run's end must still close it.
            if self.stopping():
                ws.close(status=1000)
                return base.Outcome(1000, None, stream.pod, None, 0, {"closed_by": "client"})
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException as exc:
                if time.perf_counter() - stream.last_at > settings.timeout_s:
                    return base.Outcome(0, "timeout", stream.pod, exc)
                continue
            except (websocket.WebSocketConnectionClosedException, OSError) as exc:
                return base.Outcome(0, "stream_cut", stream.pod, exc)
            except websocket.WebSocketException as exc:  # a protocol error, a bad frame
                return base.Outcome(0, "stream_error", stream.pod, exc)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = close_code(data)
                error = None if code in CLEAN_CLOSE_CODES else "stream_error"
                exc = None if error is None else Exception(f"closed with {code}")
                return base.Outcome(code, error, stream.pod, exc, 0, {"closed_by": "server"})
            if opcode == websocket.ABNF.OPCODE_TEXT:
                try:
                    stream.received(data)
                except (ValueError, AttributeError) as exc:  # not the app's JSON message
                    return base.Outcome(0, "stream_error", stream.pod, exc)
