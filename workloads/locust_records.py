"""What a request leaves behind: its record (a JSON line in GRACEPROOF_RECORDS, with the
fields of graceproof.model.RequestRecord), its error kind, the same request told to
Locust's statistics, and, in the cluster, the relay of the workers' records to the
master in Locust's own messages.

A record: t, duration, ok, status, error, pod; open mode adds `intended`, the time the
request was due. There `t` is when it really started and `duration` runs from
`intended` to its end (so it includes any delay in sending: latency as a client arriving
at `intended` saw it). Closed mode: `duration` from `t`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
from collections.abc import Collection
from typing import IO, Any

import gevent  # type: ignore[import-untyped]  # Locust runs on gevent; no stubs

from locust_settings import Settings


class NotSentInTime(Exception):
    """An open-loop arrival that could not start within GRACEPROOF_LATE_AFTER of its
    intended time; it is recorded with error "late" instead of being sent."""


def classify(
    exc: BaseException | None, status: int, expect: Collection[int] = frozenset()
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


class Records:
    """This process's records: to its file, or, a relayed worker, to the master."""

    def __init__(self) -> None:
        self.path = ""
        self.progress_path = ""
        self.file: IO[str] | None = None

    def start(self, settings: Settings) -> None:
        self.path, self.progress_path = settings.records, settings.progress

    def write(self, record: dict[str, Any]) -> None:
        if RELAY.worker:
            RELAY.outbox.append(record)
            RELAY.made += 1  # counted when made: a batch lost on its way shows as a gap
            return
        if not self.path:
            return
        if self.file is None:
            # Line-buffered append: each record reaches the file as one write.
            self.file = open(self.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self.file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None  # a late record reopens the file (append) rather than fail

    def progress(self) -> None:
        """A held stream opened (a kind whose records come when streams end): a line in
        GRACEPROOF_PROGRESS, through the master when relayed."""
        if RELAY.worker:
            RELAY.opened += 1
        elif self.progress_path:
            with open(self.progress_path, "a", encoding="utf-8") as f:
                f.write(f"{time.time()}\n")


def report(
    environment: Any,
    record: dict[str, Any],
    exc: BaseException | None,
    length: int,
    label: tuple[str, str],
) -> None:
    """Write the record and tell Locust, so its own statistics agree with the records;
    `label`: the request's type and name there (e.g. GET /, or grpc and the method)."""
    RECORDS.write(record)
    failure = exc
    if failure is None and record["error"] is not None:
        failure = Exception(f"HTTP {record['status']}")
    environment.events.request.fire(
        request_type=label[0],
        name=label[1],
        response_time=record["duration"] * 1000.0,
        response_length=length,
        exception=failure,
        context={"pod": record["pod"], "error": record["error"]},
        response=None,
    )


class Relay:
    """Records from workers in pods to the master, in Locust's own messages
    (GRACEPROOF_RELAY=1).

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
        self.pod = ""
        self.counts_path = ""
        self.longest_call_s = 0.0
        self.outbox: list[dict[str, Any]] = []
        self.made = 0  # records written by this worker's users
        self.sent = 0  # records handed to a batch (sent, or lost with it)
        self.stopping = False
        self.opened = 0
        self.received: dict[str, int] = {}
        self.gaps: dict[str, int] = {}
        self.done: dict[str, int] = {}

    def setup(self, environment: Any, settings: Settings, longest_call_s: float) -> None:
        from locust.runners import MasterRunner, WorkerRunner

        self.pod = settings.pod or socket.gethostname()
        self.counts_path, self.longest_call_s = settings.counts, longest_call_s
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
            runner.send_message("gp_records", {"pod": self.pod, "first": first, "records": batch})
        if self.opened:
            opened, self.opened = self.opened, 0
            runner.send_message("gp_progress", {"pod": self.pod, "opened": opened})

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
        runner.send_message("gp_done", {"pod": self.pod, "made": self.made})

    # --- master ---
    def on_records(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        pod, first, records = msg.data["pod"], msg.data["first"], msg.data["records"]
        have = self.received.get(pod, 0)
        if first != have:  # never expected on ZeroMQ's ordered stream: said, not hidden
            self.gaps[pod] = self.gaps.get(pod, 0) + abs(first - have)
        if RECORDS.file is None and RECORDS.path:
            RECORDS.file = open(RECORDS.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        for record in records:
            record["w"] = pod
            if RECORDS.file is not None:
                RECORDS.file.write(json.dumps(record) + "\n")
        self.received[pod] = first + len(records)

    def on_progress(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        if RECORDS.progress_path:
            with open(RECORDS.progress_path, "a", encoding="utf-8") as f:
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
        deadline = time.monotonic() + environment.stop_timeout + self.longest_call_s * 2 + 10
        while len(self.done) < workers and time.monotonic() < deadline:
            gevent.sleep(0.1)
        self.write_counts(workers)

    def write_counts(self, workers: int) -> None:
        if RECORDS.file is not None:
            RECORDS.file.flush()
        if not self.counts_path:
            return
        counts = {
            "workers": workers,
            "received": self.received,
            "made": self.done,
            "gaps": self.gaps,
            "not_done": sorted(set(self.received) - set(self.done)),
        }
        tmp = f"{self.counts_path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(counts, f)
        os.replace(tmp, self.counts_path)


RECORDS = Records()
RELAY = Relay()
