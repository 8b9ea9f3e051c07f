"""LoadRun: Locust as a subprocess, bounded, cleaned up, and its failures told apart."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from graceproof import paths
from graceproof.load import (
    LoadResult,
    LoadRun,
    LoadSettings,
    LocustCrashed,
    LocustfileNotFound,
    crash_reason,
    default_locustfile,
    load_records,
    merge_records,
)
from graceproof.model import RequestRecord
from graceproof.waiting import wait_for

if TYPE_CHECKING:  # the fixture's type, from tests/unit/conftest.py
    from conftest import HangingServer

ROOT = Path(__file__).resolve().parents[2]
ONE_USER = LoadSettings(users=1, connection="new")
SERVER = ROOT / "workloads" / "app" / "server.py"


@pytest.fixture
def app_port() -> Iterator[int]:
    """The sample app served from this process on a free loopback port."""
    spec = importlib.util.spec_from_file_location("graceproof_app_server_load", SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.Server(module.App({"PORT": "0", "BIND_ADDRESS": "127.0.0.1", "POD_NAME": "p"}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_short_run_records_its_requests_and_parameters(app_port: int, tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    settings = LoadSettings(users=2, connection="keepalive")
    with LoadRun(app_port, settings, duration_s=2, records_path=records) as run:
        assert run.wait_for_records(5, timeout_s=30) >= 5
        result = run.wait()
    assert result.returncode == 0
    assert result.total > 10
    assert result.failed == 0
    assert {r.pod for r in result.records} == {"p"}
    assert result.connection == "keepalive"
    assert result.parameters()["users"] == 2
    assert result.parameters()["port"] == app_port
    assert result.started < min(r.t for r in result.records) < result.finished
    assert result.command[result.command.index("--host") + 1] == f"http://127.0.0.1:{app_port}"


def test_failed_requests_are_data_not_a_harness_failure(tmp_path: Path) -> None:
    run = LoadRun(free_port(), ONE_USER, duration_s=1, records_path=tmp_path / "r.jsonl")
    with run:
        result = run.wait()  # does not raise although every request failed
    assert result.returncode == 1
    assert result.total > 0
    assert result.failed == result.total
    assert {r.error for r in result.records} == {"connection_refused"}
    assert crash_reason(result) is None


def test_a_crashing_locustfile_raises_locust_crashed_with_its_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken_locustfile.py"
    broken.write_text("raise RuntimeError('boom in the locustfile')\n")
    run = LoadRun(
        free_port(), ONE_USER, duration_s=1, records_path=tmp_path / "r.jsonl", locustfile=broken
    )
    with run, pytest.raises(LocustCrashed, match="boom in the locustfile"):
        run.wait()


def test_leaving_the_block_early_kills_the_whole_process_group(
    app_port: int, tmp_path: Path
) -> None:
    run = LoadRun(app_port, ONE_USER, duration_s=120, records_path=tmp_path / "r.jsonl")
    with pytest.raises(KeyboardInterrupt), run:
        run.wait_for_records(1, timeout_s=30)
        pgid = run._require_proc().pid
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C
    assert not run.running
    assert not group_alive(pgid)


def test_wait_for_records_reports_an_early_exit(tmp_path: Path) -> None:
    broken = tmp_path / "broken_locustfile.py"
    broken.write_text("import sys\nsys.exit(3)\n")
    run = LoadRun(
        free_port(), ONE_USER, duration_s=1, records_path=tmp_path / "r.jsonl", locustfile=broken
    )
    with run, pytest.raises(LocustCrashed, match="exited with 3"):
        run.wait_for_records(1, timeout_s=30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "10.0.0.1"}, "only to 127.0.0.1"),
        ({"duration_s": 0.5}, "duration_s"),
    ],
)
def test_bad_arguments_are_refused_before_starting(
    kwargs: dict[str, object], message: str, tmp_path: Path
) -> None:
    args: dict[str, object] = {"duration_s": 5, "records_path": tmp_path / "r.jsonl"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        LoadRun(30080, ONE_USER, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"connection": "pooled"}, r"unknown connection policy .*pooled.*; known: .*keepalive"),
        ({"users": 0}, "users"),
        ({"path": "healthz"}, "path must start"),
        ({"mode": "bursty"}, "mode must be one of"),
        ({"mode": "open"}, "rate is required when mode='open'"),
        ({"rate": 100.0}, "rate applies to mode='open' only"),
        ({"max_in_flight": 5}, "max_in_flight applies to mode='open' only"),
        ({"mode": "open", "rate": 0.0}, "rate must be a number of requests per second > 0"),
        ({"mode": "open", "rate": float("nan")}, "rate must be"),
        ({"mode": "open", "rate": 9.0, "max_in_flight": 0}, "max_in_flight must be >= 1"),
        ({"mode": "open", "rate": 9.0, "late_after_s": 0.0}, "late_after_s must be > 0"),
        ({"processes": 0}, "processes must be >= 1"),
        ({"users": 2, "processes": 3}, "raise users or lower processes"),
    ],
)
def test_bad_load_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadSettings(**kwargs)  # type: ignore[arg-type]


def test_the_settings_reach_the_locustfile_and_the_result_once(tmp_path: Path) -> None:
    settings = LoadSettings(users=3, connection="keepalive", timeout_s=1.5, wait_s=0.2)
    run = LoadRun(30080, settings, duration_s=5, records_path=tmp_path / "r.jsonl")
    env = run.environment()
    assert env["GRACEPROOF_CONNECTION"] == "keepalive"
    assert env["GRACEPROOF_TIMEOUT"] == "1.5"
    assert env["GRACEPROOF_WAIT"] == "0.2"
    command = run.command()
    assert command[command.index("--users") + 1] == "3"
    assert run.stop_timeout_s == 3  # the per-request timeout, rounded up, and 1 s


def test_the_default_locustfile_is_the_repositorys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRACEPROOF_LOCUSTFILE", raising=False)
    assert default_locustfile() == ROOT / "workloads" / "locustfile.py"


def test_without_a_checkout_or_package_data_the_locustfile_must_be_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GRACEPROOF_LOCUSTFILE", raising=False)
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setattr(paths, "INSTALLED_DATA", tmp_path / "no-data")
    with pytest.raises(LocustfileNotFound, match="pass locustfile="):
        default_locustfile()
    monkeypatch.setenv("GRACEPROOF_LOCUSTFILE", "/nonexistent/locustfile.py")
    with pytest.raises(LocustfileNotFound, match="is not a file"):
        default_locustfile()
    # A copy of the locustfile alone cannot run: it imports its parts from its folder.
    alone = tmp_path / "copy" / "locustfile.py"
    alone.parent.mkdir()
    shutil.copy(ROOT / "workloads" / "locustfile.py", alone)
    monkeypatch.setenv("GRACEPROOF_LOCUSTFILE", str(alone))
    with pytest.raises(LocustfileNotFound, match=r"its folder lacks locust_settings\.py"):
        default_locustfile()
    for part in (ROOT / "workloads").glob("locust*.py"):
        shutil.copy(part, alone.parent)
    assert default_locustfile() == alone


def test_load_records_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"t": 1.0, "duration": 0.01, "ok": true, "status": 200, "error": null, "pod": "a"}\n'
        '{"t": 1.1, "duration": 0.5, "ok": false, "status": 0, "error": "timeout", "pod": null}\n'
        '{"t": 1.2, "dura'
    )
    records = load_records(path)
    assert [(r.ok, r.error) for r in records] == [(True, None), (False, "timeout")]


def test_importing_graceproof_load_does_not_import_locust() -> None:
    # Locust monkey-patches gevent and urllib3 on import: it must stay out of pytest.
    check = "import sys, graceproof.load; print('locust' in sys.modules, 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_open_mode_settings_reach_the_locustfile_and_the_result(tmp_path: Path) -> None:
    settings = LoadSettings(users=4, mode="open", rate=250.0, max_in_flight=7, late_after_s=0.05)
    env = LoadRun(30080, settings, duration_s=5, records_path=tmp_path / "r.jsonl").environment()
    assert env["GRACEPROOF_MODE"] == "open"
    assert env["GRACEPROOF_RATE"] == "250.0"
    assert env["GRACEPROOF_USERS"] == "4"  # the rate is shared by all users
    assert env["GRACEPROOF_MAX_IN_FLIGHT"] == "7"
    assert env["GRACEPROOF_LATE_AFTER"] == "0.05"
    result = LoadResult(0, [], settings, 5.0, 30080, 0.0, 1.0)
    assert result.parameters()["mode"] == "open" and result.parameters()["rate"] == 250.0
    closed = LoadResult(0, [], LoadSettings(), 5.0, 30080, 0.0, 1.0).parameters()
    assert (closed["mode"], closed["rate"], closed["processes"]) == ("closed", None, 1)


def test_a_distributed_run_has_a_master_and_workers_with_their_own_records(
    tmp_path: Path,
) -> None:
    settings = LoadSettings(users=4, mode="open", rate=100.0, processes=2)
    run = LoadRun(30080, settings, duration_s=5, records_path=tmp_path / "r.jsonl")
    master = run.command()
    assert "--master" in master
    assert master[master.index("--expect-workers") + 1] == "2"
    worker = run.worker_command()
    assert "--worker" in worker and "--users" not in worker
    port = str(run.master_port)
    assert master[master.index("--master-bind-port") + 1] == port
    assert worker[worker.index("--master-port") + 1] == port
    assert worker[worker.index("--host") + 1] == "http://127.0.0.1:30080"
    assert run.environment()["GRACEPROOF_RECORDS"] == ""  # the master runs no user
    assert [run.environment(worker=i)["GRACEPROOF_RECORDS"] for i in (0, 1)] == [
        str(tmp_path / "r.jsonl.w0"),
        str(tmp_path / "r.jsonl.w1"),
    ]
    # A single Locust is as before: no master, no workers.
    single = LoadRun(30080, ONE_USER, duration_s=5, records_path=tmp_path / "s.jsonl")
    assert "--master" not in single.command() and single.worker_records_paths() == []


def test_leaving_the_block_early_kills_the_master_and_every_worker(
    app_port: int, tmp_path: Path
) -> None:
    settings = LoadSettings(users=2, mode="open", rate=20.0, processes=2)
    run = LoadRun(app_port, settings, duration_s=120, records_path=tmp_path / "r.jsonl")
    with pytest.raises(KeyboardInterrupt), run:
        run.wait_for_records(4, timeout_s=30)
        pids = run.pids()
        assert len(pids) == 3
        pgid = run._require_proc().pid
        assert {os.getpgid(pid) for pid in pids} == {pgid}  # one process group
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C
    assert not run.running
    assert not group_alive(pgid)


def test_merge_records_sorts_every_part_by_start_time(tmp_path: Path) -> None:
    parts = [tmp_path / "r.jsonl.w0", tmp_path / "r.jsonl.w1"]
    parts[0].write_text(
        '{"t": 1.0, "duration": 0.1, "ok": true, "status": 200, "intended": 0.99}\n'
        '{"t": 3.0, "duration": 0.1, "ok": true, "status": 200, "intended": 2.99}\n'
        '{"t": 4.0, "dura'  # a worker killed mid-write
    )
    parts[1].write_text(
        '{"t": 2.0, "duration": 0.0, "ok": false, "status": 0, "error": "late", "intended": 1.9}\n'
    )
    merged = merge_records(parts, tmp_path / "r.jsonl")
    assert [(r.t, r.intended, r.error) for r in merged] == [
        (1.0, 0.99, None),
        (2.0, 1.9, "late"),
        (3.0, 2.99, None),
    ]
    assert load_records(tmp_path / "r.jsonl") == merged


def test_a_failed_worker_is_a_harness_failure() -> None:
    record = RequestRecord(1.0, 0.01, True, 200)
    result = LoadResult(0, [record], ONE_USER, 5.0, 30080, 0.0, 1.0, worker_returncodes=(0, -9))
    assert (
        crash_reason(result) == "Locust worker 1 exited with -9 (not 0 or 1: it failed by itself)"
    )


def test_records_without_an_intended_time_keep_their_old_form() -> None:
    old = {"t": 1.0, "duration": 0.5, "ok": False, "status": 0, "error": "timeout", "pod": None}
    record = RequestRecord.from_dict(old)
    assert record.intended is None
    assert record.to_dict() == old  # closed-loop records are written as before
    opened = RequestRecord(2.0, 0.3, True, 200, None, "web-0", intended=1.9)
    assert RequestRecord.from_dict(opened.to_dict()) == opened


def test_a_request_in_flight_when_the_load_is_stopped_is_still_recorded(
    hanging_server: HangingServer, tmp_path: Path
) -> None:
    # graceproof stops a run with SIGTERM; Locust then fires `quitting` before it stops
    # its users: the request still hanging must be recorded (as a timeout) all the same.
    settings = LoadSettings(users=1, connection="new", timeout_s=1.5)
    records = tmp_path / "r.jsonl"
    run = LoadRun(hanging_server.port, settings, duration_s=60, records_path=records)
    with run:
        run.wait_for_records(1, timeout_s=30)  # one request timed out
        # ...and the next one hangs: stopping in the user's pause between the two would
        # leave no request in flight (seen once: the stop came 9 ms after the timeout).
        wait_for(
            lambda: len(hanging_server.held) >= 2 or None,
            what="the second request to reach the server",
            timeout=10,
            interval=0.01,
        )
        stopped = time.time()
        run.stop()
        result = run.wait(check=False)
    assert result.records, result.stderr_tail
    assert {r.error for r in result.records} == {"timeout"}
    # The request that hung across the stop is there, ended by its timeout after it.
    assert max(r.t + r.duration for r in result.records) > stopped
    assert "I/O operation on closed file" not in result.stderr_tail


def test_the_locustfile_binds_the_source_ports_graceproof_passes_by_default() -> None:
    # Both sides name the default; a drift would make a bare Locust run bind other ports.
    # The locustfile's is its declaration's (workloads/locust_settings.py).
    from graceproof.load import DEFAULT_SOURCE_PORTS
    from graceproof.load.locustfiles import default

    assert default("source_ports") == DEFAULT_SOURCE_PORTS
    # Below the NodePort range, where kind's docker-proxy listens.
    assert int(DEFAULT_SOURCE_PORTS.split("-")[1]) < 30000
