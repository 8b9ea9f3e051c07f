"""The locustfile, run by real Locust as a subprocess against the app on 127.0.0.1.

Locust is never imported here (it monkey-patches gevent into the process).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from graceproof.model import ERROR_KINDS, RequestRecord

if TYPE_CHECKING:  # the fixture's type, from tests/unit/conftest.py
    from conftest import RunningApp

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "workloads" / "locustfile.py"
SERVER = ROOT / "workloads" / "app" / "server.py"


def run_locust(
    host: str, records: Path, *, seconds: int = 3, users: int = 2, **env: str
) -> subprocess.CompletedProcess[str]:
    # Only what the test sets: GRACEPROOF_* of the caller's shell must not leak in.
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRACEPROOF_")}
    full_env = {**base, "GRACEPROOF_RECORDS": str(records), **env}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--json",  # Locust's own stats on stdout, to compare with the records
        ],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


RECORD_FIELDS = {"t", "duration", "ok", "status", "error", "pod"}


def read_records(path: Path, fields: set[str] = RECORD_FIELDS) -> list[RequestRecord]:
    lines = path.read_text().splitlines()
    for line in lines:
        d = json.loads(line)
        if not d["ok"] and d["status"] == 0 and d["error"] != "late":
            # No answer: where it failed, for graceproof.failures.
            assert set(d) == fields | {"detail"}
            assert set(d["detail"]) == {"stage", "reused"}
            assert d["detail"]["stage"] in ("connect", "sent", "answer")
        else:
            assert set(d) == fields
    return [RequestRecord.from_dict(json.loads(line)) for line in lines]


def locust_totals(stdout: str) -> tuple[int, int]:
    stats = json.loads(stdout)
    return sum(s["num_requests"] for s in stats), sum(s["num_failures"] for s in stats)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_new_connection_policy_records_every_request_on_its_own_connection(
    app: RunningApp, tmp_path: Path
) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(f"http://127.0.0.1:{app.port}", records_path, GRACEPROOF_CONNECTION="new")
    assert run.returncode == 0, run.stderr
    records = read_records(records_path)
    assert len(records) > 20
    assert all(r.ok and r.status == 200 and r.pod == "web-0" and r.error is None for r in records)
    assert all(0 < r.duration < 2 for r in records)
    # A request cut by Locust's stop at -t leaves no record: at most one per user.
    assert len(records) <= len(app.connections) <= len(records) + 2
    assert locust_totals(run.stdout) == (len(records), 0)  # Locust's stats agree


def test_keepalive_policy_reuses_one_connection_per_user(app: RunningApp, tmp_path: Path) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}", records_path, GRACEPROOF_CONNECTION="keepalive"
    )
    assert run.returncode == 0, run.stderr
    records = read_records(records_path)
    assert len(records) > 20
    assert all(r.ok for r in records)
    assert len(app.connections) == 2  # two users, each kept its connection


def test_http_errors_are_classified_and_fail_in_locust_too(app: RunningApp, tmp_path: Path) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}",
        records_path,
        seconds=2,
        users=1,
        GRACEPROOF_PATH="/status?code=503",
    )
    assert run.returncode == 1  # Locust exits 1 when requests failed
    records = read_records(records_path)
    assert records
    assert {(r.ok, r.status, r.error, r.pod) for r in records} == {
        (False, 503, "http_5xx", "web-0")
    }
    assert locust_totals(run.stdout) == (len(records), len(records))


def test_timeouts_are_classified_as_timeout(app: RunningApp, tmp_path: Path) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}",
        records_path,
        seconds=2,
        users=1,
        GRACEPROOF_PATH="/slow?seconds=3",
        GRACEPROOF_TIMEOUT="0.4",
    )
    assert run.returncode == 1, run.stderr
    records = read_records(records_path)
    assert records
    assert {(r.ok, r.status, r.error) for r in records} == {(False, 0, "timeout")}
    assert all(r.duration >= 0.4 for r in records)


def test_refused_connections_are_classified_as_connection_refused(tmp_path: Path) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(f"http://127.0.0.1:{free_port()}", records_path, seconds=2, users=1)
    assert run.returncode == 1, run.stderr
    records = read_records(records_path)
    assert records
    assert {r.error for r in records} == {"connection_refused"}
    assert {r.error for r in records} <= set(ERROR_KINDS)


@pytest.mark.parametrize(
    "host",
    [
        "http://192.0.2.1:30080",
        "https://127.0.0.1:30080",
        "http://localhost:30080",
        "http://127.0.0.1",
    ],
)
def test_a_host_other_than_loopback_ip_and_port_is_refused(host: str, tmp_path: Path) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(host, records_path, seconds=2, users=1)
    assert run.returncode == 2
    assert "graceproof: refusing --host" in run.stderr
    assert "127.0.0.1:<port>" in run.stderr
    assert not records_path.exists()  # not a single request was sent


def test_an_unknown_connection_policy_is_refused(tmp_path: Path) -> None:
    run = run_locust("http://127.0.0.1:30080", tmp_path / "r.jsonl", GRACEPROOF_CONNECTION="pooled")
    assert run.returncode == 2
    assert "GRACEPROOF_CONNECTION" in run.stderr


def test_expected_statuses_decide_success(app: RunningApp, tmp_path: Path) -> None:
    # 503 is what this endpoint answers; the user says it is the expected answer.
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}",
        records_path,
        seconds=2,
        users=1,
        GRACEPROOF_PATH="/status?code=503",
        GRACEPROOF_EXPECT="503",
    )
    assert run.returncode == 0, run.stderr
    records = read_records(records_path)
    assert records and all(r.ok and r.status == 503 for r in records)


def test_a_200_outside_the_expected_statuses_is_a_failure(app: RunningApp, tmp_path: Path) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}",
        records_path,
        seconds=2,
        users=1,
        GRACEPROOF_EXPECT="204",
        GRACEPROOF_HOST_HEADER="web.example",
    )
    assert run.returncode == 1
    records = read_records(records_path)
    assert records and {(r.ok, r.status, r.error) for r in records} == {(False, 200, "http_other")}


def test_the_method_is_sent_as_given(app: RunningApp, tmp_path: Path) -> None:
    # The sample app serves GET only: http.server answers 501 to a HEAD it lacks.
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}", records_path, seconds=2, users=1, GRACEPROOF_METHOD="HEAD"
    )
    assert run.returncode == 1
    assert {r.status for r in read_records(records_path)} == {501}


def _free_source_ports(count: int) -> range:
    """`count` consecutive ports no socket holds now, below the kernel's ephemeral range
    (32768 and up here), where no outgoing connection takes one meanwhile: a fixed range
    failed when two runs of this file shared the machine."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20000, 30000 - count)
        ports = range(first, first + count)
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return ports
    raise AssertionError(f"no {count} free consecutive ports in 20000-29999")


def test_a_port_whose_request_timed_out_is_quarantined_across_runs(tmp_path: Path) -> None:
    # A server that accepts and never answers: every request times out, as requests
    # to a pod that is gone do (there the SYN goes unanswered; same rule).
    quarantine = tmp_path / "ports.json"
    ports = _free_source_ports(10)
    held: list[socket.socket] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        port = server.getsockname()[1]

        def accept() -> None:
            while True:
                try:
                    held.append(server.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
        run = run_locust(
            f"http://127.0.0.1:{port}",
            tmp_path / "r.jsonl",
            seconds=3,
            users=1,
            GRACEPROOF_TIMEOUT="0.5",
            GRACEPROOF_SOURCE_PORTS=f"{ports.start}-{ports.stop - 1}",
            GRACEPROOF_PORT_QUARANTINE=str(quarantine),
        )
    for conn in held:
        conn.close()
    assert run.returncode == 1, run.stderr
    records = read_records(tmp_path / "r.jsonl")
    assert records and all(r.error == "timeout" for r in records)
    saved = {int(p): until for p, until in json.loads(quarantine.read_text()).items()}
    # One port per timed-out request, none used twice while quarantined.
    assert len(saved) == len(records) and set(saved) <= set(ports)
    # Each is held for the kernel's SYN_SENT timeout and more.
    assert min(saved.values()) > max(r.t for r in records) + 100


def test_open_mode_records_the_intended_time_and_locust_agrees(
    app: RunningApp, tmp_path: Path
) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}",
        records_path,
        GRACEPROOF_MODE="open",
        GRACEPROOF_RATE="50",
        GRACEPROOF_CONNECTION="keepalive",
    )
    records = read_records(records_path, RECORD_FIELDS | {"intended"})
    # 50 a second for some 3 s, less the time Locust takes to start: 56 on 2 cores at a
    # load average of 9, so the floor is what shows the schedule ran, not a rate.
    assert len(records) > 30
    assert all(r.intended is not None and r.intended <= r.t for r in records)
    # On 2 loaded cores gevent's scheduler wakes more than late_after_s (20 ms) late a few
    # times a minute (CI failed 1 run in 4 on it): such an arrival is recorded "late", as
    # it must be, and counted by Locust as a failure. Every other request is answered.
    late = [r for r in records if r.late]
    assert all(r.ok for r in records if not r.late), [r.error for r in records if not r.ok]
    assert run.returncode == (1 if late else 0), run.stderr
    assert locust_totals(run.stdout) == (len(records), len(late))


def test_an_arrival_that_starts_after_late_after_is_recorded_late_not_sent(
    app: RunningApp, tmp_path: Path
) -> None:
    # A bound of 1 us, far below what any wake-up of gevent's loop takes: every arrival
    # is late, whatever the machine's load, so this path runs on every run.
    records_path = tmp_path / "records.jsonl"
    run = run_locust(
        f"http://127.0.0.1:{app.port}",
        records_path,
        seconds=2,
        users=1,
        GRACEPROOF_MODE="open",
        GRACEPROOF_RATE="20",
        GRACEPROOF_LATE_AFTER="0.000001",
    )
    assert run.returncode == 1, run.stderr
    records = read_records(records_path, RECORD_FIELDS | {"intended"})
    assert len(records) >= 10
    assert all(r.late and not r.ok and r.status == 0 and r.pod is None for r in records)
    assert all(r.intended is not None and r.t > r.intended for r in records)
    assert not app.connections  # none of them was sent
    assert locust_totals(run.stdout) == (len(records), len(records))
    assert "not sent within 1e-06 s of its intended time" in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GRACEPROOF_MODE": "open"}, "GRACEPROOF_MODE=open needs GRACEPROOF_RATE"),
        ({"GRACEPROOF_MODE": "bursty"}, "GRACEPROOF_MODE must be 'closed' or 'open'"),
    ],
)
def test_a_bad_mode_is_refused_before_any_request(
    env: dict[str, str], message: str, app: RunningApp, tmp_path: Path
) -> None:
    records_path = tmp_path / "records.jsonl"
    run = run_locust(f"http://127.0.0.1:{app.port}", records_path, seconds=2, users=1, **env)
    assert run.returncode == 2
    assert message in run.stderr
    assert not records_path.exists() and not app.connections


def _serve_raw(handle: Callable[[socket.socket], None]) -> tuple[socket.socket, int]:
    """A listening socket whose every connection `handle` serves in its own thread."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)

    def accept() -> None:
        while True:
            try:
                conn = server.accept()[0]
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server, int(server.getsockname()[1])


_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pod-Name: web-0\r\n\r\nok"


def _answer_once_then_close_on_the_next_request(conn: socket.socket) -> None:
    # The keep-alive race, made certain: the connection carried an answer, the client
    # sends its next request, and the server closes it without a byte of answer.
    with conn:
        conn.recv(65536)
        conn.sendall(_ANSWER)
        conn.recv(65536)


def _answer_in_part(conn: socket.socket) -> None:
    with conn:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Pod-Name: web-0\r\n\r\nhalf")


def test_each_unanswered_request_records_where_it_failed(tmp_path: Path) -> None:
    """The stage (connect, sent, answer) and reuse that graceproof.failures classifies."""
    from graceproof.failures import FailureContext, failure_class

    get = FailureContext(idempotent=True, proxied=False)
    seen: dict[str, set[str | None]] = {}
    for name, handle in [
        ("closed-on-reuse", _answer_once_then_close_on_the_next_request),
        ("answer-in-part", _answer_in_part),
    ]:
        server, port = _serve_raw(handle)
        with server:
            path = tmp_path / f"{name}.jsonl"
            run = run_locust(
                f"http://127.0.0.1:{port}",
                path,
                seconds=2,
                users=1,
                GRACEPROOF_CONNECTION="keepalive",
            )
        assert run.returncode == 1, run.stderr
        seen[name] = {failure_class(r, get) for r in read_records(path)}
    refused = tmp_path / "refused.jsonl"
    run_locust(f"http://127.0.0.1:{free_port()}", refused, seconds=1, users=1)
    seen["refused"] = {failure_class(r, get) for r in read_records(refused)}
    assert seen == {
        # Answers on fresh connections, then the reused one closed: retryable.
        "closed-on-reuse": {None, "retryable"},
        "answer-in-part": {"cut"},
        "refused": {"stale_endpoint"},
    }
