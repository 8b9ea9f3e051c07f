"""Locust load for graceproof: <method> <path> on http://127.0.0.1:<port>, a JSON line a request.

Self-contained on purpose (it runs inside Locust's gevent-patched process, which
must not import graceproof); graceproof.load starts it as a subprocess on the host, and
graceproof.placement.cluster as Locust's master and workers in pods (from a ConfigMap).
The locustfiles of the other traffic kinds (locust_grpc.py, locust_websocket.py) import
this one as their base.

In the cluster:
  GRACEPROOF_TARGET_ADDRESS  the Service's ClusterIP, the one address besides 127.0.0.1
                         the users may connect to
  GRACEPROOF_RELAY=1     workers send their records to the master in Locust's messages
                         (Relay below); the master writes them to GRACEPROOF_RECORDS and the
                         per-worker counts to GRACEPROOF_COUNTS
  GRACEPROOF_POD         the pod's name, on each relayed record (`w`)
  GRACEPROOF_LONGEST_CALL  the longest one request of the kind may take (the waits for
                         the requests in flight at the end use it; default the timeout)

It uses http.client rather than HttpUser so the connection policy is explicit:
  GRACEPROOF_MODE        closed (default): each user sends a request, waits for its answer,
                         pauses GRACEPROOF_WAIT, sends the next. While answers hang (a pod
                         IP that vanished) nothing new is sent, so an outage looks smaller
                         than it is (coordinated omission).
                         open: arrivals at a fixed rate whatever the answers do. Each user
                         owns 1/users of GRACEPROOF_RATE and schedules its arrivals at the
                         intended times t0 + k * users / rate (t0: a random phase, so the
                         users interleave), with Locust's own wait_time; each request runs
                         in its own greenlet of a per-user gevent Pool, so a hung request
                         does not delay the next one.
  GRACEPROOF_RATE        open mode: requests per second, all users together (required)
  GRACEPROOF_USERS       open mode: how many users share the rate, over all Locust
                         processes (default: Locust's --users)
  GRACEPROOF_MAX_IN_FLIGHT  open mode: requests in flight per user, at most (default:
                         2 x the user's rate x GRACEPROOF_TIMEOUT + 10, room for every
                         arrival of two timeouts)
  GRACEPROOF_LATE_AFTER  open mode, seconds (default 0.02): an arrival that cannot start
                         within this of its intended time (the user's pool is full, or the
                         scheduler or the request's greenlet ran late: a saturated
                         generator) is not sent; it is recorded at once as a failure with
                         error "late", so no arrival is ever dropped or sent late silently.
  GRACEPROOF_CONNECTION  new (default): a new TCP connection per request, `Connection: close`
                         keepalive: closed mode, one connection per user, reused; re-opened
                         after an error, after `Connection: close`, or when the server
                         closed it while idle (checked before reuse, as urllib3 and Go
                         clients do). Open mode: each in-flight request needs a connection
                         of its own, so each user keeps a stack of idle connections: a
                         request takes the most recently used one (the same checks), or
                         opens a new one when none is idle, and gives it back after a clean
                         answer; the stack never exceeds the in-flight bound.
  GRACEPROOF_TIMEOUT     per socket operation (connect, each read), seconds (default 2)
  GRACEPROOF_WAIT        closed mode: pause between requests of one user, seconds (default 0.02)
  GRACEPROOF_PATH        request path (default /)
  GRACEPROOF_METHOD      GET (default), HEAD or OPTIONS
  GRACEPROOF_HOST_HEADER a Host header to send (default: none beyond http.client's own)
  GRACEPROOF_EXPECT      comma-separated statuses that count as success (default: any
                         status below 400)
  GRACEPROOF_SOURCE_PORTS  FIRST-LAST (default 10000-29999, below the NodePort range,
                         where kind's docker-proxy listens): each new connection binds the
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
                         graceproof.model.RequestRecord: t, duration, ok, status, error, pod;
                         open mode adds `intended`, the time the request was due. There `t`
                         is when it really started and `duration` runs from `intended` to
                         its end (so it includes any delay in sending: latency as a client
                         arriving at `intended` saw it). Closed mode: `duration` from `t`.
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

import gevent  # type: ignore[import-untyped]  # Locust runs on gevent; no stubs
import gevent.pool  # type: ignore[import-untyped]
from locust import User, constant, events, task
from locust.exception import StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING

MODE = os.environ.get("GRACEPROOF_MODE", "closed")
RATE = float(os.environ.get("GRACEPROOF_RATE") or 0)
USERS = int(os.environ.get("GRACEPROOF_USERS") or 0)
MAX_IN_FLIGHT = int(os.environ.get("GRACEPROOF_MAX_IN_FLIGHT") or 0)
LATE_AFTER = float(os.environ.get("GRACEPROOF_LATE_AFTER") or 0.02)
CONNECTION = os.environ.get("GRACEPROOF_CONNECTION", "new")
TIMEOUT = float(os.environ.get("GRACEPROOF_TIMEOUT", "2"))
# The longest a request of this traffic kind may take (a stream's whole length, a slow
# call's delay, plus the timeout): the waits for requests in flight at the end use it.
LONGEST_CALL = float(os.environ.get("GRACEPROOF_LONGEST_CALL") or TIMEOUT)
WAIT = float(os.environ.get("GRACEPROOF_WAIT", "0.02"))
PATH = os.environ.get("GRACEPROOF_PATH", "/")
METHOD = os.environ.get("GRACEPROOF_METHOD", "GET")
HOST_HEADER = os.environ.get("GRACEPROOF_HOST_HEADER", "")
EXPECT = frozenset(int(s) for s in os.environ.get("GRACEPROOF_EXPECT", "").split(",") if s)
RECORDS = os.environ.get("GRACEPROOF_RECORDS", "")
SOURCE_PORTS = os.environ.get("GRACEPROOF_SOURCE_PORTS", "10000-29999")
QUARANTINE = os.environ.get("GRACEPROOF_PORT_QUARANTINE", "")
LOOPBACK = "127.0.0.1"
# Where the users connect: the loopback (NodePorts on the host), or, when graceproof
# runs this Locust inside the cluster, the target Service's ClusterIP, given here.
TARGET_ADDRESS = os.environ.get("GRACEPROOF_TARGET_ADDRESS") or LOOPBACK
# In the cluster, workers send their records to the master in Locust's own messages,
# and the master writes them (see the relay below); on the host each process writes.
RELAY = os.environ.get("GRACEPROOF_RELAY") == "1"
POD = os.environ.get("GRACEPROOF_POD") or socket.gethostname()
COUNTS = os.environ.get("GRACEPROOF_COUNTS", "")
PROGRESS = os.environ.get("GRACEPROOF_PROGRESS", "")
# Connection policies a loaded locustfile runs: this file's; the locustfile of another
# traffic kind (locust_grpc.py, locust_websocket.py) imports this one as its base and
# adds its own names before Locust's init event checks GRACEPROOF_CONNECTION.
CONNECTIONS = {"new", "keepalive"}


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
    served = 0  # answers on the current socket: more than 0 makes the next one reused

    def connect(self) -> None:
        self.served = 0
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


class NotSentInTime(Exception):
    """An open-loop arrival that could not start within GRACEPROOF_LATE_AFTER of its
    intended time; it is recorded with error "late" instead of being sent."""


class HostRefused(ValueError):
    """The target is not http://127.0.0.1:<port> (or the in-cluster target's address)."""


def loopback_port(host: str | None) -> int:
    """The port of http://127.0.0.1:<port>; anything else is refused.

    Load must only ever reach the loopback address (NodePorts mapped to 127.0.0.1), or
    inside the cluster the one address graceproof gave (GRACEPROOF_TARGET_ADDRESS).
    """
    hint = (
        "graceproof sends load only to http://127.0.0.1:<port> (a NodePort mapped to "
        "loopback)"
        + ("" if TARGET_ADDRESS == LOOPBACK else f" or to http://{TARGET_ADDRESS}:<port>")
    )
    if not host:
        raise HostRefused(f"no --host given; {hint}")
    parts = urlsplit(host)
    try:
        port = parts.port
    except ValueError as exc:
        raise HostRefused(f"bad port in --host {host!r}; {hint}") from exc
    if parts.scheme != "http" or parts.hostname not in (LOOPBACK, TARGET_ADDRESS) or port is None:
        raise HostRefused(f"refusing --host {host!r}; {hint}")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise HostRefused(f"--host {host!r} must have no path, query or user; {hint}")
    return port


def classify(
    exc: BaseException | None, status: int, expect: frozenset[int] = frozenset()
) -> str | None:
    """The error kind of a request (graceproof.model.ERROR_KINDS), None when it succeeded:
    a status in `expect`, or below 400 when `expect` is empty."""
    if isinstance(exc, NotSentInTime):
        return "late"
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
    if RELAY and _relay.worker:
        _relay.outbox.append(record)
        _relay.made += 1  # counted when made: a batch lost on its way shows as a gap
        return
    if not RECORDS:
        return
    if _records_file is None:
        # Line-buffered append: each record reaches the file as one write.
        _records_file = open(RECORDS, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    _records_file.write(json.dumps(record) + "\n")


def _refuse_bad_settings(environment: Any, **_kwargs: Any) -> None:
    # Runs before any user starts: a refused setting or host means no request is ever sent.
    problems = []
    if CONNECTION not in CONNECTIONS:
        problems.append(
            f"GRACEPROOF_CONNECTION must be one of {sorted(CONNECTIONS)} for this locustfile, "
            f"not {CONNECTION!r}"
        )
    if MODE not in ("closed", "open"):
        problems.append(f"GRACEPROOF_MODE must be 'closed' or 'open', not {MODE!r}")
    if MODE == "open" and RATE <= 0:
        problems.append("GRACEPROOF_MODE=open needs GRACEPROOF_RATE, requests per second > 0")
    if MODE == "open" and (LATE_AFTER <= 0 or MAX_IN_FLIGHT < 0):
        problems.append("GRACEPROOF_LATE_AFTER must be > 0 and GRACEPROOF_MAX_IN_FLIGHT >= 0")
    for problem in problems:
        sys.stderr.write(f"graceproof: {problem}\n")
    if problems:
        sys.exit(2)
    try:
        loopback_port(environment.host)
    except HostRefused as exc:
        sys.stderr.write(f"graceproof: {exc}\n")
        sys.exit(2)


def _close_records(**_kwargs: Any) -> None:
    global _records_file
    if _records_file is not None:
        _records_file.close()
        _records_file = None  # a late record reopens the file (append) rather than fail
    save_quarantine(QUARANTINE, _quarantine)


def progress() -> None:
    """A held stream opened (a kind whose records come when streams end): a line in
    GRACEPROOF_PROGRESS, through the master when relayed."""
    if RELAY and _relay.worker:
        _relay.opened += 1
    elif PROGRESS:
        with open(PROGRESS, "a", encoding="utf-8") as f:
            f.write(f"{time.time()}\n")


class Relay:
    """Records from workers in pods to the master, in Locust's own messages.

    A worker keeps its records in an outbox, sent every EVERY_S as
    `gp_records` {pod, first (the index of the batch's first record), records}. At the
    end the master asks every worker to stop (`gp_stop`, when Locust's stop begins);
    each stops its users (their last records included), sends what is left, then
    `gp_done` {pod, made}. The master writes each record (with `w`, the worker's pod)
    to GRACEPROOF_RECORDS, and GRACEPROOF_COUNTS: per worker, received and made, a gap
    between batches, and the workers that never said done (a pod that died: its last
    unsent records are lost, and said so, not hidden).
    """

    EVERY_S = 0.25

    def __init__(self) -> None:
        self.worker = False
        self.outbox: list[dict[str, Any]] = []
        self.made = 0  # records written by this worker's users
        self.sent = 0  # records handed to a batch (sent, or lost with it)
        self.stopping = False
        self.opened = 0
        self.received: dict[str, int] = {}
        self.gaps: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.file: IO[str] | None = None

    def setup(self, environment: Any) -> None:
        from locust.runners import MasterRunner, WorkerRunner

        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            self.worker = True
            runner.register_message("gp_stop", self.on_stop, concurrent=True)
            gevent.spawn(self.flush_forever, runner)
        elif isinstance(runner, MasterRunner):
            runner.register_message("gp_records", self.on_records)
            runner.register_message("gp_progress", self.on_progress)
            runner.register_message("gp_done", self.on_done)
            environment.events.test_stopping.add_listener(self.stop_workers)

    # --- worker ---
    def flush(self, runner: Any) -> None:
        batch, self.outbox = self.outbox, []
        if batch:
            # Its place is taken before the send: a batch whose send fails stays a gap
            # (made, never received) instead of vanishing, and the next one is not
            # numbered as if it were its successor.
            first, self.sent = self.sent, self.sent + len(batch)
            runner.send_message("gp_records", {"pod": POD, "first": first, "records": batch})
        if self.opened:
            opened, self.opened = self.opened, 0
            runner.send_message("gp_progress", {"pod": POD, "opened": opened})

    def flush_forever(self, runner: Any) -> None:
        while True:
            gevent.sleep(self.EVERY_S)
            try:
                self.flush(runner)
            except Exception as exc:  # Locust's RPCSendError after its retries
                sys.stderr.write(f"graceproof: a batch of records was not sent: {exc!r}\n")

    def on_stop(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        if self.stopping:
            return  # asked twice (a run-time stop and a SIGTERM at once): once is enough
        self.stopping = True
        runner = environment.runner
        runner.stop()  # its users stop; their requests in flight end and are recorded
        self.flush(runner)
        runner.send_message("gp_done", {"pod": POD, "made": self.made})

    # --- master ---
    def on_records(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        pod, first, records = msg.data["pod"], msg.data["first"], msg.data["records"]
        have = self.received.get(pod, 0)
        if first != have:  # never expected on ZeroMQ's ordered stream: said, not hidden
            self.gaps[pod] = self.gaps.get(pod, 0) + abs(first - have)
        if self.file is None and RECORDS:
            self.file = open(RECORDS, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        for record in records:
            record["w"] = pod
            if self.file is not None:
                self.file.write(json.dumps(record) + "\n")
        self.received[pod] = first + len(records)

    def on_progress(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        if PROGRESS:
            with open(PROGRESS, "a", encoding="utf-8") as f:
                f.write(f"{time.time()}\n" * int(msg.data["opened"]))

    def on_done(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        self.done[msg.data["pod"]] = int(msg.data["made"])

    def stop_workers(self, environment: Any, **_kwargs: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        runner = environment.runner
        workers = len(runner.clients)
        runner.send_message("gp_stop")
        deadline = time.monotonic() + environment.stop_timeout + LONGEST_CALL * 2 + 10
        while len(self.done) < workers and time.monotonic() < deadline:
            gevent.sleep(0.1)
        self.write_counts(workers)

    def write_counts(self, workers: int) -> None:
        if self.file is not None:
            self.file.flush()
        if not COUNTS:
            return
        counts = {
            "workers": workers,
            "received": self.received,
            "made": self.done,
            "gaps": self.gaps,
            "not_done": sorted(set(self.received) - set(self.done)),
        }
        tmp = f"{COUNTS}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(counts, f)
        os.replace(tmp, COUNTS)


_relay = Relay()
if RELAY:
    events.init.add_listener(lambda environment, **_kw: _relay.setup(environment))

events.init.add_listener(_refuse_bad_settings)  # type: ignore[no-untyped-call]
# On `quit`, not `quitting`: on SIGTERM (how graceproof stops a run) Locust fires
# `quitting` before it stops the users, whose requests in flight then finish and
# must still be recorded; `quit` comes after the runner has stopped.
events.quit.add_listener(_close_records)  # type: ignore[no-untyped-call]


def request_headers() -> dict[str, str]:
    headers = {"Connection": "close"} if CONNECTION == "new" else {}
    if HOST_HEADER:
        headers["Host"] = HOST_HEADER
    return headers


HEADERS = request_headers()


def exchange(
    conn: BoundConnection,
) -> tuple[int, str | None, int, Exception | None, dict[str, Any] | None]:
    """One request on `conn`: (status, pod, body length, exception, where); status 0 and
    the exception when no full answer arrived.

    `where`, for a request that got no full answer, is what graceproof.failures needs
    to say where it failed: the stage it reached (`connect`: no connection; `sent`: the
    request went out, no byte of the answer came; `answer`: part of it came) and whether
    the connection had carried an answer before (`reused`)."""
    reused = conn.served > 0
    stage = "connect"
    try:
        if conn.sock is None:
            conn.connect()
        stage = "sent"
        conn.request(METHOD, PATH, headers=HEADERS)
        response = conn.getresponse()
        stage = "answer"  # the status line and headers arrived
        body = response.read()
    except Exception as e:  # every failure is data: classify and record it
        return 0, None, 0, e, {"stage": stage, "reused": reused}
    conn.served += 1
    return response.status, response.getheader("X-Pod-Name"), len(body), None, None


def quarantine_if_unanswered(conn: BoundConnection, error: str | None) -> None:
    if error == "timeout" and conn.source_port is not None:
        # Its SYN may be unanswered: keep the port off until conntrack forgets it.
        _quarantine[conn.source_port] = time.time() + QUARANTINE_S


def idle_closed_by_server(conn: BoundConnection) -> bool:
    """Not reusable: no socket any more, or an idle socket that is readable, which the
    server closed (or sent junk on)."""
    if conn.sock is None:
        return True
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def make_record(
    t: float,
    duration: float,
    status: int,
    error: str | None,
    pod: str | None,
    intended: float | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of graceproof.model.RequestRecord; `intended` in open mode only,
    `detail` when a traffic kind has something to add."""
    record: dict[str, Any] = {"t": t, "duration": duration, "ok": error is None}
    record.update(status=status, error=error, pod=pod)
    if intended is not None:
        record["intended"] = intended
    if detail:
        record["detail"] = detail
    return record


class Outcome:
    """What one request gave: the fields of its record that the traffic kind decides."""

    __slots__ = ("detail", "error", "exc", "length", "pod", "status")

    def __init__(
        self,
        status: int,
        error: str | None,
        pod: str | None,
        exc: BaseException | None = None,
        length: int = 0,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.status, self.error, self.pod = status, error, pod
        self.exc, self.length, self.detail = exc, length, detail


# What Locust's own statistics call a request; another traffic kind's locustfile sets
# its own (e.g. "grpc", the method's path).
REQUEST_TYPE, REQUEST_NAME = METHOD, PATH


def report(
    environment: Any, record: dict[str, Any], exc: BaseException | None, length: int
) -> None:
    """Write the record and tell Locust, so its own statistics agree with the records."""
    write_record(record)
    failure = exc
    if failure is None and record["error"] is not None:
        failure = Exception(f"HTTP {record['status']}")
    environment.events.request.fire(
        request_type=REQUEST_TYPE,
        name=REQUEST_NAME,
        response_time=record["duration"] * 1000.0,
        response_length=length,
        exception=failure,
        context={"pod": record["pod"], "error": record["error"]},
        response=None,
    )


class GraceproofUser(User):
    """Closed loop: request, answer, pause, next request."""

    # Any mode but open keeps this user, so a bad GRACEPROOF_MODE reaches the init check.
    abstract = MODE == "open"
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
        if CONNECTION == "keepalive" and self.conn is not None and idle_closed_by_server(self.conn):
            # Reconnect instead of failing the next request on a socket the server closed
            # (or one that http.client closed after `Connection: close`).
            self._drop()
        if self.conn is None:
            self.conn = BoundConnection(TARGET_ADDRESS, self.port, timeout=TIMEOUT)
        return self.conn

    @task
    def get(self) -> None:
        t = time.time()
        start = time.perf_counter()
        # Not killed mid-request in graceproof's runs: Locust's --stop-timeout covers
        # the longest request of the kind (GRACEPROOF_LONGEST_CALL, LoadSettings).
        out = self.attempt()
        duration = time.perf_counter() - start
        record = make_record(t, duration, out.status, out.error, out.pod, detail=out.detail)
        report(self.environment, record, out.exc, out.length)

    def attempt(self) -> Outcome:
        """One request; another traffic kind's user overrides this."""
        conn = self._connection()
        status, pod, length, exc, where = exchange(conn)
        error = classify(exc, status, EXPECT)
        quarantine_if_unanswered(conn, error)
        if exc is not None or CONNECTION == "new":
            # After an error the connection state is unknown: start afresh.
            self._drop()
        return Outcome(status, error, pod, exc, length, where)


# Open-mode times are taken from the monotonic clock (so `intended <= t` always holds and
# a clock step cannot bunch or skip arrivals) and written as epoch seconds through this
# anchor, read once per process.
_EPOCH_AT = time.time() - time.perf_counter()


def epoch(perf: float) -> float:
    return _EPOCH_AT + perf


def default_in_flight(user_rate: float) -> int:
    """Room for every arrival of two timeouts (a connect and a read that both hang)."""
    return int(2 * user_rate * TIMEOUT) + 10


class OpenLoopUser(User):
    """Open loop: arrivals at fixed intended times, each request in its own greenlet."""

    abstract = MODE != "open"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.port = loopback_port(self.host or environment.host)
        options = environment.parsed_options
        users = USERS or (options.num_users if options is not None else 0) or 1
        self.interval = users / RATE
        self.pool = gevent.pool.Pool(MAX_IN_FLIGHT or default_in_flight(RATE / users))
        self.idle: list[BoundConnection] = []  # keepalive: most recently used last
        # A random phase: the users' arrivals interleave instead of coming in bursts.
        self.t0 = time.perf_counter() + random.uniform(0.0, self.interval)
        self.arrivals = 0
        _open_users.append(self)

    def next_arrival(self) -> float:
        return self.t0 + self.arrivals * self.interval

    def wait_time(self) -> float:
        # Locust sleeps this long between two tasks: until the next intended time.
        return max(0.0, self.next_arrival() - time.perf_counter())

    def stopping(self) -> bool:
        """Locust began to stop: the run is over. (Its stop first blocks the event loop
        for some 50 ms, in inspect.stack(): arrivals due then would all look late.)"""
        runner = self.environment.runner
        return runner is not None and runner.state in (STATE_STOPPING, STATE_CLEANUP, STATE_STOPPED)

    @task
    def arrive(self) -> None:
        intended = self.next_arrival()
        self.arrivals += 1
        now = time.perf_counter()
        while now < intended:  # gevent's timers may fire a little early
            gevent.sleep(intended - now)
            now = time.perf_counter()
        if self.stopping():
            raise StopUser  # an arrival after the end of the run is not made
        if self.pool.full():
            self.late(intended, now, "the in-flight bound was reached")
        elif now - intended > LATE_AFTER:
            self.late(intended, now, "the scheduler woke late")
        else:
            self.pool.spawn(self.send, intended)

    def late(self, intended: float, now: float, why: str) -> None:
        exc = NotSentInTime(f"not sent within {LATE_AFTER} s of its intended time: {why}")
        error = classify(exc, 0, EXPECT)
        record = make_record(epoch(now), now - intended, 0, error, None, epoch(intended))
        report(self.environment, record, exc, 0)

    def _checkout(self) -> BoundConnection:
        while CONNECTION == "keepalive" and self.idle:
            conn = self.idle.pop()
            if not idle_closed_by_server(conn):
                return conn
            conn.close()
        return BoundConnection(TARGET_ADDRESS, self.port, timeout=TIMEOUT)

    def send(self, intended: float) -> None:
        start = time.perf_counter()
        # Once Locust is stopping, a request handed over in time is sent even if its
        # greenlet starts late: its duration, from `intended`, shows the delay.
        if start - intended > LATE_AFTER and not self.stopping():
            self.late(intended, start, "its greenlet started late")
            return
        out = self.attempt()
        end = time.perf_counter()
        due = epoch(intended)
        record = make_record(
            epoch(start), end - intended, out.status, out.error, out.pod, due, out.detail
        )
        report(self.environment, record, out.exc, out.length)

    def attempt(self) -> Outcome:
        """One request, in its own greenlet; another traffic kind's user overrides this."""
        conn = self._checkout()
        status, pod, length, exc, where = exchange(conn)
        error = classify(exc, status, EXPECT)
        quarantine_if_unanswered(conn, error)
        if exc is None and CONNECTION == "keepalive" and conn.sock is not None:
            self.idle.append(conn)
        else:
            # New policy, an error (state unknown), or the server said `Connection: close`.
            conn.close()
        return Outcome(status, error, pod, exc, length, where)

    def close_idle(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# Every open-loop user of this process: its requests in flight outlive it.
_open_users: list[OpenLoopUser] = []


def _finish_in_flight(**_kwargs: Any) -> None:
    """Once Locust stopped the users (no new arrival): the requests in flight end within
    their timeouts (a connect and a read at most) and are recorded.

    Not in the user's on_stop: Locust may throw GreenletExit into a user that stopped by
    itself, which would cut the wait short and lose the records of those requests.
    """
    deadline = time.monotonic() + 2 * LONGEST_CALL + 1
    for user in _open_users:
        user.pool.join(timeout=max(0.0, deadline - time.monotonic()))
        user.close_idle()
    _open_users.clear()


events.test_stop.add_listener(_finish_in_flight)  # type: ignore[no-untyped-call]
