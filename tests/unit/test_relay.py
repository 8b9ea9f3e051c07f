"""The relay of the in-cluster load, run on the loopback: a Locust master and two
workers (Locust's own distributed mode), the workers sending their records to the master
in Locust's messages. Every record made reaches the master's file, both when the run
time ends and when the master gets SIGTERM (how graceproof stops it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_app import AppProcess

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "workloads" / "locustfile.py"


@pytest.fixture
def app() -> Iterator[AppProcess]:
    process = AppProcess(SHUTDOWN_MODE="drain")
    yield process
    process.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _relayed_run(app: AppProcess, tmp_path: Path, *, sigterm_after: float | None) -> dict:
    port, host = _free_port(), f"http://127.0.0.1:{app.port}"
    env = {
        **os.environ,
        "GRACEPROOF_RELAY": "1",
        "GRACEPROOF_SOURCE_PORTS": "kernel",
        "GRACEPROOF_RECORDS": str(tmp_path / "records.jsonl"),
        "GRACEPROOF_COUNTS": str(tmp_path / "counts.json"),
    }
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    master = subprocess.Popen(
        [*locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
         str(port), "--headless", "-u", "4", "-r", "4", "-t", "4s", "--stop-timeout", "3",
         "--expect-workers", "2", "--only-summary", "--host", host],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [
                *locust,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
                "--host",
                host,
            ],
            env={**env, "GRACEPROOF_POD": f"w{i}", "GRACEPROOF_RECORDS": ""},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    try:
        if sigterm_after is not None:
            # From the first records the master has written, not from its start: on 2
            # busy cores (load average 12 beside a build) the three processes took more
            # than 2.5 s to start, and a SIGTERM before the workers had joined left them
            # waiting for a master that was gone (seen 3 runs in 3).
            records = tmp_path / "records.jsonl"
            deadline = time.monotonic() + 30
            while not (records.exists() and records.stat().st_size) and master.poll() is None:
                assert time.monotonic() < deadline, "no record reached the master in 30 s"
                time.sleep(0.05)
            time.sleep(sigterm_after)
            master.send_signal(signal.SIGTERM)
        _, err = master.communicate(timeout=60)
        for w in workers:
            w.wait(timeout=30)
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
    assert master.returncode in (0, 1), err.decode()[-2000:]
    counts = json.loads((tmp_path / "counts.json").read_text())
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    counts["lines"] = len(lines)
    counts["workers_seen"] = sorted({json.loads(x)["w"] for x in lines})
    return counts


# SIGTERM 1 s after the first records arrive: mid-run, with records in every batch.
@pytest.mark.parametrize("sigterm_after", [None, 1.0], ids=["run-time", "sigterm"])
def test_every_record_of_every_worker_reaches_the_master(
    app: AppProcess, tmp_path: Path, sigterm_after: float | None
) -> None:
    counts = _relayed_run(app, tmp_path, sigterm_after=sigterm_after)
    assert counts["workers"] == 2 and counts["not_done"] == [] and counts["gaps"] == {}
    assert set(counts["made"]) == {"w0", "w1"} == set(counts["workers_seen"])
    assert counts["made"] == counts["received"], counts
    assert counts["lines"] == sum(counts["made"].values()) > 20, counts
