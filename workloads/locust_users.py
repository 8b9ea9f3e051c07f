"""The users: <method> <path> on the target, a request at a time (closed loop) or at
fixed arrival times (open loop), over http.client rather than HttpUser so that the
connection policy is explicit.

closed (GraceproofUser): each user sends a request, waits for its answer, pauses
GRACEPROOF_WAIT, sends the next. While answers hang (a pod IP that vanished) nothing new
is sent, so an outage looks smaller than it is (coordinated omission).

open (OpenLoopUser): arrivals at a fixed rate whatever the answers do. Each user owns
1/users of GRACEPROOF_RATE and schedules its arrivals at the intended times
t0 + k * users / rate (t0: a random phase, so the users interleave), with Locust's own
wait_time; each request runs in its own greenlet of a per-user gevent Pool, so a hung
request does not delay the next one. An arrival that cannot start within
GRACEPROOF_LATE_AFTER of its intended time (the user's pool is full, or the scheduler or
the request's greenlet ran late: a saturated generator) is not sent; it is recorded at
once as a failure with error "late", so no arrival is ever dropped or sent late silently.

Connections (GRACEPROOF_CONNECTION): `new`, a new TCP connection per request with
`Connection: close`; `keepalive`, in closed mode one connection per user, reused;
re-opened after an error, after `Connection: close`, or when the server closed it while
idle (checked before reuse, as urllib3 and Go clients do). In open mode each in-flight
request needs a connection of its own, so each user keeps a stack of idle connections: a
request takes the most recently used one (the same checks), or opens a new one when none
is idle, and gives it back after a clean answer; the stack never exceeds the in-flight
bound.

Each user class says its load mode (`load_mode`); the locustfile keeps those of the
mode asked for when Locust starts.
"""

from __future__ import annotations

import random
import select
import time
from typing import Any

import gevent  # type: ignore[import-untyped]  # Locust runs on gevent; no stubs
import gevent.pool  # type: ignore[import-untyped]
from locust import User, task
from locust.exception import StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING

from locust_ports import BoundConnection, loopback_port, quarantine_if_unanswered
from locust_records import NotSentInTime, Outcome, classify, make_record, report
from locust_settings import Settings

# This process's settings: defaults until the locustfile reads them when Locust starts.
settings = Settings()


def request_headers() -> dict[str, str]:
    headers = {"Connection": "close"} if settings.connection == "new" else {}
    if settings.host_header:
        headers["Host"] = settings.host_header
    return headers


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
        conn.request(settings.method, settings.path, headers=request_headers())
        response = conn.getresponse()
        stage = "answer"  # the status line and headers arrived
        body = response.read()
    except Exception as e:  # every failure is data: classify and record it
        return 0, None, 0, e, {"stage": stage, "reused": reused}
    conn.served += 1
    return response.status, response.getheader("X-Pod-Name"), len(body), None, None


def idle_closed_by_server(conn: BoundConnection) -> bool:
    """Not reusable: no socket any more, or an idle socket that is readable, which the
    server closed (or sent junk on)."""
    if conn.sock is None:
        return True
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def is_stopping(runner: Any) -> bool:
    """Locust began to stop: the run is over."""
    return runner is not None and runner.state in (STATE_STOPPING, STATE_CLEANUP, STATE_STOPPED)


class GraceproofUser(User):
    """Closed loop: request, answer, pause, next request."""

    load_mode = "closed"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.port = loopback_port(self.host or environment.host)
        self.conn: BoundConnection | None = None

    def wait_time(self) -> float:
        return settings.wait_s

    def label(self) -> tuple[str, str]:
        """What Locust's own statistics call a request; another traffic kind's user says
        its own (e.g. "grpc" and the method's path)."""
        return settings.method, settings.path

    def on_stop(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connection(self) -> BoundConnection:
        keepalive = settings.connection == "keepalive"
        if keepalive and self.conn is not None and idle_closed_by_server(self.conn):
            # Reconnect instead of failing the next request on a socket the server closed
            # (or one that http.client closed after `Connection: close`).
            self._drop()
        if self.conn is None:
            self.conn = BoundConnection(
                settings.target_address, self.port, timeout=settings.timeout_s
            )
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
        report(self.environment, record, out.exc, out.length, self.label())

    def attempt(self) -> Outcome:
        """One request; another traffic kind's user overrides this."""
        conn = self._connection()
        status, pod, length, exc, where = exchange(conn)
        error = classify(exc, status, settings.expect_status)
        quarantine_if_unanswered(conn, error)
        if exc is not None or settings.connection == "new":
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
    return int(2 * user_rate * settings.timeout_s) + 10


class OpenLoopUser(User):
    """Open loop: arrivals at fixed intended times, each request in its own greenlet."""

    load_mode = "open"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.port = loopback_port(self.host or environment.host)
        options = environment.parsed_options
        users = settings.users or (options.num_users if options is not None else 0) or 1
        rate = settings.rate or 0.0  # never None in open mode (locust_settings.read)
        self.interval = users / rate
        self.pool = gevent.pool.Pool(settings.max_in_flight or default_in_flight(rate / users))
        self.idle: list[BoundConnection] = []  # keepalive: most recently used last
        # A random phase: the users' arrivals interleave instead of coming in bursts.
        self.t0 = time.perf_counter() + random.uniform(0.0, self.interval)
        self.arrivals = 0
        OPEN_USERS.append(self)

    def label(self) -> tuple[str, str]:
        return settings.method, settings.path

    def next_arrival(self) -> float:
        return self.t0 + self.arrivals * self.interval

    def wait_time(self) -> float:
        # Locust sleeps this long between two tasks: until the next intended time.
        return max(0.0, self.next_arrival() - time.perf_counter())

    def stopping(self) -> bool:
        """Locust began to stop: the run is over. (Its stop first blocks the event loop
        for some 50 ms, in inspect.stack(): arrivals due then would all look late.)"""
        return is_stopping(self.environment.runner)

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
        elif now - intended > settings.late_after_s:
            self.late(intended, now, "the scheduler woke late")
        else:
            self.pool.spawn(self.send, intended)

    def late(self, intended: float, now: float, why: str) -> None:
        exc = NotSentInTime(
            f"not sent within {settings.late_after_s} s of its intended time: {why}"
        )
        error = classify(exc, 0, settings.expect_status)
        record = make_record(epoch(now), now - intended, 0, error, None, epoch(intended))
        report(self.environment, record, exc, 0, self.label())

    def _checkout(self) -> BoundConnection:
        while settings.connection == "keepalive" and self.idle:
            conn = self.idle.pop()
            if not idle_closed_by_server(conn):
                return conn
            conn.close()
        return BoundConnection(settings.target_address, self.port, timeout=settings.timeout_s)

    def send(self, intended: float) -> None:
        start = time.perf_counter()
        # Once Locust is stopping, a request handed over in time is sent even if its
        # greenlet starts late: its duration, from `intended`, shows the delay.
        if start - intended > settings.late_after_s and not self.stopping():
            self.late(intended, start, "its greenlet started late")
            return
        out = self.attempt()
        end = time.perf_counter()
        due = epoch(intended)
        record = make_record(
            epoch(start), end - intended, out.status, out.error, out.pod, due, out.detail
        )
        report(self.environment, record, out.exc, out.length, self.label())

    def attempt(self) -> Outcome:
        """One request, in its own greenlet; another traffic kind's user overrides this."""
        conn = self._checkout()
        status, pod, length, exc, where = exchange(conn)
        error = classify(exc, status, settings.expect_status)
        quarantine_if_unanswered(conn, error)
        keepalive = settings.connection == "keepalive"
        if exc is None and keepalive and conn.sock is not None:
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
OPEN_USERS: list[OpenLoopUser] = []


def finish_in_flight(**_kwargs: Any) -> None:
    """Once Locust stopped the users (no new arrival): the requests in flight end within
    their timeouts (a connect and a read at most) and are recorded.

    Not in the user's on_stop: Locust may throw GreenletExit into a user that stopped by
    itself, which would cut the wait short and lose the records of those requests.
    """
    deadline = time.monotonic() + 2 * longest_call_s() + 1
    for user in OPEN_USERS:
        user.pool.join(timeout=max(0.0, deadline - time.monotonic()))
        user.close_idle()
    OPEN_USERS.clear()


def longest_call_s() -> float:
    """The longest one request of the kind may take (the timeout unless given)."""
    return settings.longest_call_s or settings.timeout_s
