"""How much load one CPU-second of the generator makes: Locust closed and open loop.

Figures, not a test. The sample app runs as a process of its own on 127.0.0.1 (so its
CPU is not the generator's); graceproof.load.LoadRun runs Locust against it. For each
case the CPU of every Locust process (user + system, from /proc/<pid>/stat) is read over a
steady window that leaves out Locust's start (imports: about a CPU-second a process)
and its stop, and set against the requests started in that window.

    .venv/bin/python benchmarks/load_generator.py [--seconds 12] [--connection new]

The app shares the machine's cores with the generator: on a small machine it takes
CPU the generator would otherwise have, and its answers bound the achieved rate of
the closed loop. Its CPU share is printed beside the generator's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from graceproof.load import QUARANTINE_ENV, LoadRun, LoadSettings, load_records
from graceproof.model import ConnectionPolicy, RequestRecord

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "workloads" / "app" / "server.py"
WARMUP_S = 1.5  # after the first record: every user runs, the start's CPU is spent
STOP_MARGIN_S = 1.5  # before Locust's run time ends: its stop is not in the window
APP_START_S = 10.0


@dataclass(frozen=True)
class Case:
    label: str
    settings: LoadSettings


@dataclass(frozen=True)
class Figures:
    arrivals: int  # records in the window (sent or late)
    sent: int
    late: int
    errors: dict[str, int]  # sent and failed, by kind
    window_s: float
    cpu_s: list[float]  # per Locust process: the single one, or the master then workers
    sent_by_process: list[int]  # per process; the master sends nothing
    app_cpu_s: float
    p50_ms: float
    p99_ms: float


def cases(users: int, rates: Sequence[float], connection: str) -> list[Case]:
    conn: ConnectionPolicy = "keepalive" if connection == "keepalive" else "new"
    out = [Case(f"closed {users} users", LoadSettings(users=users, connection=conn))]
    for rate in rates:
        for processes in (1, 2):
            settings = LoadSettings(
                users=users, connection=conn, mode="open", rate=rate, processes=processes
            )
            out.append(Case(f"open {rate:g}/s, {processes} proc", settings))
    return out


@contextmanager
def sample_app(folder: Path) -> Iterator[tuple[int, int]]:
    """The sample app as a process on a free loopback port; its port and pid."""
    log = folder / "app.log"
    env = {**os.environ, "PORT": "0", "BIND_ADDRESS": "127.0.0.1", "POD_NAME": "bench"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + APP_START_S
        while True:
            lines = log.read_text(encoding="utf-8").splitlines()
            starts = [json.loads(line) for line in lines if '"event": "start"' in line]
            if starts:
                yield int(starts[0]["port"]), proc.pid
                return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sample app did not start; its log:\n{lines[-20:]}")
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (its own, not its children's)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rpartition(")")[2].split()
    # After the command name: state is field 3 of proc(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_window(records: Sequence[RequestRecord], start: float, end: float) -> list[RequestRecord]:
    return [r for r in records if start <= r.t < end]


def measure(case: Case, port: int, app: int, seconds: int, folder: Path) -> Figures:
    records_path = folder / f"{case.label.replace(' ', '_').replace('/', '')}.jsonl"
    with LoadRun(port, case.settings, duration_s=seconds, records_path=records_path) as run:
        run.wait_for_records(1, timeout_s=60)
        time.sleep(WARMUP_S)
        procs = run.pids()
        cpu0 = [cpu_seconds(p) for p in procs]
        app0 = cpu_seconds(app)
        start = time.time()
        time.sleep(seconds - WARMUP_S - STOP_MARGIN_S - 1.0)  # Locust started ~1 s earlier
        cpu1 = [cpu_seconds(p) for p in procs]
        app1 = cpu_seconds(app)
        end = time.time()
        result = run.wait()
        parts = [load_records(path) for path in run.worker_records_paths()]
    window = in_window(result.records, start, end)
    sent = [r for r in window if r.error != "late"]
    ok_ms = sorted(r.duration * 1000 for r in sent if r.ok) or [0.0]
    # Distributed: the master sends nothing; each worker its own records.
    by_process = [len(sent)]
    if parts:
        by_process = [0] + [sum(r.error != "late" for r in in_window(p, start, end)) for p in parts]
    return Figures(
        arrivals=len(window),
        sent=len(sent),
        late=len(window) - len(sent),
        errors=dict(Counter(r.error or "unexpected" for r in sent if not r.ok)),
        window_s=end - start,
        cpu_s=[b - a for a, b in zip(cpu0, cpu1, strict=True)],
        sent_by_process=by_process,
        app_cpu_s=app1 - app0,
        p50_ms=statistics.median(ok_ms),
        p99_ms=ok_ms[min(len(ok_ms) - 1, int(0.99 * len(ok_ms)))],
    )


def report(case: Case, f: Figures) -> str:
    cpu = sum(f.cpu_s)
    per_process = ", ".join(
        f"{'master' if len(f.cpu_s) > 1 and i == 0 else f'p{i}'} {c / f.window_s:4.0%} CPU"
        + (f" {n / c:6.0f} req/CPU-s" if n and c else "")
        for i, (c, n) in enumerate(zip(f.cpu_s, f.sent_by_process, strict=True))
    )
    return (
        f"{case.label:<22} sent {f.sent / f.window_s:5.0f}/s  late {f.late:5d}  "
        f"errors {sum(f.errors.values()):5d}  p50 {f.p50_ms:5.1f} ms  p99 {f.p99_ms:6.1f} ms  "
        f"generator {cpu / f.window_s:4.0%} CPU, {f.sent / cpu if cpu else 0:6.0f} req/CPU-s  "
        f"app {f.app_cpu_s / f.window_s:4.0%} CPU  [{per_process}]"
        + (f"  errors: {f.errors}" if f.errors else "")
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=12, help="Locust run time of each case")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--rates", type=float, nargs="+", default=[500, 1000, 2000, 4000])
    p.add_argument("--connection", choices=["new", "keepalive"], default="new")
    args = p.parse_args()
    if args.seconds < WARMUP_S + STOP_MARGIN_S + 3:
        p.error(f"--seconds must be >= {WARMUP_S + STOP_MARGIN_S + 3:g}")
    print(
        f"{os.cpu_count()} CPUs (the app shares them), connection {args.connection}, "
        f"{args.seconds} s a case, window {args.seconds - WARMUP_S - STOP_MARGIN_S - 1:g} s; "
        f"CPU = user + system of each Locust process over the window"
    )
    with tempfile.TemporaryDirectory(prefix="graceproof-bench-") as tmp:
        folder = Path(tmp)
        # Timed-out requests would quarantine source ports: in this run's file only.
        os.environ[QUARANTINE_ENV] = str(folder / "ports.json")
        with sample_app(folder) as (port, app):
            for case in cases(args.users, args.rates, args.connection):
                print(report(case, measure(case, port, app, args.seconds, folder)), flush=True)


if __name__ == "__main__":
    main()
