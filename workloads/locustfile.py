"""Locust load for graceproof: GET <path> on http://127.0.0.1:<port>, one JSON line per request.

Self-contained on purpose (it runs inside Locust's gevent-patched process, which
must not import graceproof); graceproof.load starts it as a subprocess.

It uses http.client rather than HttpUser so the connection policy is explicit:
  GRACEPROOF_CONNECTION  new (default): a new TCP connection per request, `Connection: close`
                         keepalive: one connection per user, reused; re-opened after an
                         error, after `Connection: close`, or when the server closed it
                         while idle (checked before reuse, as urllib3 and Go clients do)
  GRACEPROOF_TIMEOUT     per socket operation (connect, each read), seconds (default 2)
  GRACEPROOF_WAIT        pause between requests of one user, seconds (default 0.02)
  GRACEPROOF_PATH        request path (default /)
  GRACEPROOF_METHOD      GET (default), HEAD or OPTIONS
  GRACEPROOF_HOST_HEADER a Host header to send (default: none beyond http.client's own)
  GRACEPROOF_EXPECT      comma-separated statuses that count as success (default: any
                         status below 400)
  GRACEPROOF_SOURCE_PORTS  FIRST-LAST (default 10000-32767): each new connection binds the
                         next free source port of this range, cycling; `kernel` lets the
                         kernel choose. Why: on the loopback NodePort path (DNAT + SNAT
                         on one host), kernel-chosen ephemeral ports gave about 1 refused
                         connection in 10^4 with no pod terminating at all (measured
                         on the local cluster: 1-4 per 15,000; 0 in 3 x 15,000 with
                         bound ports), which would blur a zero-error proof.
  GRACEPROOF_PORT_QUARANTINE  a JSON file shared by consecutive runs: source ports whose
                         connection got no answer, with the time until which they are not
                         bound again. Why: such a SYN leaves a conntrack entry
                         (SYN_SENT, UNREPLIED) NATed to the pod that was gone, for 120 s;
                         a new connection from the same port to the same node port matches
                         it and goes to the dead pod again. Seen: a hooked run that reused
                         10 ports of its negative control's timeouts timed out 10 times.
  GRACEPROOF_RECORDS     file that receives one JSON line per request with the fields of
                         graceproof.model.RequestRecord: t, duration, ok, status, error, pod
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import select
import socket
import sys
import time
from typing import IO, Any
from urllib.parse import urlsplit

from locust import User, constant, events, task

CONNECTION = os.environ.get("GRACEPROOF_CONNECTION", "new")
TIMEOUT = float(os.environ.get("GRACEPROOF_TIMEOUT", "2"))
WAIT = float(os.environ.get("GRACEPROOF_WAIT", "0.02"))
PATH = os.environ.get("GRACEPROOF_PATH", "/")
METHOD = os.environ.get("GRACEPROOF_METHOD", "GET")
HOST_HEADER = os.environ.get("GRACEPROOF_HOST_HEADER", "")
EXPECT = frozenset(int(s) for s in os.environ.get("GRACEPROOF_EXPECT", "").split(",") if s)
RECORDS = os.environ.get("GRACEPROOF_RECORDS", "")
SOURCE_PORTS = os.environ.get("GRACEPROOF_SOURCE_PORTS", "10000-32767")
QUARANTINE = os.environ.get("GRACEPROOF_PORT_QUARANTINE", "")
LOOPBACK = "127.0.0.1"


def _syn_sent_timeout() -> float:
    """How long the kernel keeps an unanswered SYN's conntrack entry (default 120 s)."""
    try:
        with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_syn_sent") as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return 120.0


QUARANTINE_S = _syn_sent_timeout() + 10.0


def load_quarantine(path: str, now: float) -> dict[int, float]:
    """Ports still quarantined at `now` ({port: until}); nothing when there is no file."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {int(p): float(u) for p, u in data.items() if float(u) > now}


def save_quarantine(path: str, ports: dict[int, float]) -> None:
    """Write the quarantine atomically (a rename), merged with what is there now."""
    if not path:
        return
    merged = {**load_quarantine(path, time.time()), **ports}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({str(p): u for p, u in merged.items()}, f)
    os.replace(tmp, path)


_quarantine = load_quarantine(QUARANTINE, time.time())


def source_ports(spec: str) -> itertools.cycle[int] | None:
    """The cycle of source ports for `spec` (FIRST-LAST), or None for `kernel`."""
    if spec == "kernel":
        return None
    first, _, last = spec.partition("-")
    lo, hi = int(first), int(last)
    if not 1024 <= lo <= hi <= 65535:
        raise ValueError(f"GRACEPROOF_SOURCE_PORTS must be FIRST-LAST within 1024-65535: {spec!r}")
    # A random start: back-to-back runs do not reuse the same ports first (their
    # conntrack entries linger for two minutes).
    start = random.randrange(lo, hi + 1)
    return itertools.cycle([*range(start, hi + 1), *range(lo, start)])


_PORTS = source_ports(SOURCE_PORTS)
_PORT_COUNT = (
    0
    if _PORTS is None
    else int(SOURCE_PORTS.partition("-")[2]) - int(SOURCE_PORTS.partition("-")[0]) + 1
)


class BoundConnection(http.client.HTTPConnection):
    """An HTTPConnection whose socket binds the next free port of GRACEPROOF_SOURCE_PORTS.

    A port that is taken is skipped: binding is not part of the request, so it never
    counts as a failed request.
    """

    source_port: int | None = None

    def connect(self) -> None:
        if _PORTS is None:
            super().connect()
            return
        now = time.time()
        for _ in range(_PORT_COUNT):
            port = next(_PORTS)
            if _quarantine.get(port, 0.0) > now:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                sock.close()
                continue
            self.source_port = port
            break
        else:
            raise OSError(f"no free source port in {SOURCE_PORTS}")
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock


class HostRefused(ValueError):
    """The target is not http://127.0.0.1:<port>."""


def loopback_port(host: str | None) -> int:
    """The port of http://127.0.0.1:<port>; anything else is refused.

    Load must only ever reach the loopback address (NodePorts mapped to 127.0.0.1).
    """
    hint = "graceproof sends load only to http://127.0.0.1:<port> (a NodePort mapped to loopback)"
    if not host:
        raise HostRefused(f"no --host given; {hint}")
    parts = urlsplit(host)
    try:
        port = parts.port
    except ValueError as exc:
        raise HostRefused(f"bad port in --host {host!r}; {hint}") from exc
    if parts.scheme != "http" or parts.hostname != LOOPBACK or port is None:
        raise HostRefused(f"refusing --host {host!r}; {hint}")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise HostRefused(f"--host {host!r} must have no path, query or user; {hint}")
    return port


def classify(
    exc: BaseException | None, status: int, expect: frozenset[int] = frozenset()
) -> str | None:
    """The error kind of a request (graceproof.model.ERROR_KINDS), None when it succeeded:
    a status in `expect`, or below 400 when `expect` is empty."""
    if exc is None:
        if status in expect or (not expect and status < 400):
            return None
        return "http_5xx" if status >= 500 else "http_other"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    # RemoteDisconnected is a ConnectionResetError: test it first.
    if isinstance(exc, http.client.RemoteDisconnected):
        return "remote_disconnected"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection_reset"
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since 3.10
        return "timeout"
    return "other"


_records_file: IO[str] | None = None


def write_record(record: dict[str, Any]) -> None:
    global _records_file
    if not RECORDS:
        return
    if _records_file is None:
        # Line-buffered append: each record reaches the file as one write.
        _records_file = open(RECORDS, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    _records_file.write(json.dumps(record) + "\n")


def _refuse_foreign_hosts(environment: Any, **_kwargs: Any) -> None:
    # Runs before any user starts: a refused host means no request is ever sent.
    if CONNECTION not in ("new", "keepalive"):
        sys.stderr.write(
            f"graceproof: GRACEPROOF_CONNECTION must be 'new' or 'keepalive', not {CONNECTION!r}\n"
        )
        sys.exit(2)
    try:
        loopback_port(environment.host)
    except HostRefused as exc:
        sys.stderr.write(f"graceproof: {exc}\n")
        sys.exit(2)


def _close_records(**_kwargs: Any) -> None:
    if _records_file is not None:
        _records_file.close()
    save_quarantine(QUARANTINE, _quarantine)


events.init.add_listener(_refuse_foreign_hosts)
events.quitting.add_listener(_close_records)


class GraceproofUser(User):
    wait_time = constant(WAIT)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.port = loopback_port(self.host or environment.host)
        self.conn: BoundConnection | None = None

    def on_stop(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connection(self) -> BoundConnection:
        if CONNECTION == "keepalive" and self.conn is not None and self.conn.sock is not None:
            # An idle socket that is readable was closed by the server (or sent junk):
            # reconnect instead of failing the next request on it.
            readable, _, _ = select.select([self.conn.sock], [], [], 0)
            if readable:
                self._drop()
        if self.conn is None:
            self.conn = BoundConnection(LOOPBACK, self.port, timeout=TIMEOUT)
        return self.conn

    @task
    def get(self) -> None:
        conn = self._connection()
        headers = {"Connection": "close"} if CONNECTION == "new" else {}
        if HOST_HEADER:
            headers["Host"] = HOST_HEADER
        t = time.time()
        start = time.perf_counter()
        status = 0
        pod: str | None = None
        length = 0
        exc: Exception | None = None
        try:
            conn.request(METHOD, PATH, headers=headers)
            response = conn.getresponse()
            body = response.read()
            status = response.status
            pod = response.getheader("X-Pod-Name")
            length = len(body)
        except Exception as e:  # every failure is data: classify and record it
            exc = e
        duration = time.perf_counter() - start
        error = classify(exc, status, EXPECT)
        if error == "timeout" and conn.source_port is not None:
            # Its SYN may be unanswered: keep the port off until conntrack forgets it.
            _quarantine[conn.source_port] = time.time() + QUARANTINE_S
        if exc is not None or CONNECTION == "new":
            # After an error the connection state is unknown: start afresh.
            self._drop()
        write_record(
            {
                "t": t,
                "duration": duration,
                "ok": error is None,
                "status": status,
                "error": error,
                "pod": pod,
            }
        )
        failure: Exception | None = exc
        if failure is None and error is not None:
            failure = Exception(f"HTTP {status}")
        self.environment.events.request.fire(
            request_type=METHOD,
            name=PATH,
            response_time=duration * 1000.0,
            response_length=length,
            exception=failure,
            context={"pod": pod, "error": error},
            response=None,
        )
