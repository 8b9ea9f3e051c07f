"""The load on this host: Locust as subprocesses against a NodePort on 127.0.0.1.

Locust is never imported here: importing it monkey-patches gevent and urllib3 and
breaks the kubernetes client in this process (threads, watches, ssl recursion).

    with LoadRun(30080, LoadSettings(users=10, connection="new"), duration_s=30,
                 records_path=tmp / "records.jsonl") as load:
        load.wait_for_records()      # the load is flowing
        ...disrupt...
        result = load.wait()

Two modes. closed (the default): each user sends a request, waits for the answer,
pauses wait_s, and sends the next; while answers hang, nothing new is sent, so an
outage looks smaller than it is (coordinated omission). open: arrivals at `rate`
requests per second whatever the answers do; every record then carries `intended`, and
its duration runs from it (see workloads/locust_records.py). When one core cannot reach
the rate, `processes` > 1 runs Locust distributed: a master and that many workers in
one process group, each worker writing its own records file, merged by collect().

What every runner does alike (the waits, the command line, the result) is
graceproof.load.runner's; this file holds what differs on the host.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from graceproof.errors import LoadError
from graceproof.load import locustfiles
from graceproof.load.locustfiles import LocustfileNotFound, default_locustfile
from graceproof.load.result import count_lines, load_records, merge_records, tail
from graceproof.load.runner import STARTUP_ALLOWANCE_S, Collected, LoadRunner, LoadStatus
from graceproof.load.settings import LoadSettings
from graceproof.traffic import traffic

__all__ = ["LOOPBACK", "QUARANTINE_ENV", "QUARANTINE_FILE", "LoadRun"]

LOOPBACK = "127.0.0.1"
# Source ports whose SYN got no answer, shared by the runs of this host (see
# workloads/locust_ports.py): one file per user in the temporary folder, or the file
# this variable names in graceproof's own environment.
QUARANTINE_ENV = locustfiles.variable("port_quarantine")
QUARANTINE_FILE = Path(tempfile.gettempdir()) / f"graceproof-source-ports-{os.getuid()}.json"


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout_s: float) -> bool:
    """Whether every process exited within timeout_s (all together)."""
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True


class LoadRun(LoadRunner):
    """One Locust run as subprocesses in their own process group (a context manager):
    one Locust, or a master and `settings.processes` workers.

    Leaving the `with` block (normally, by an exception or Ctrl-C) kills the group,
    so no Locust process outlives the test.
    """

    def __init__(
        self,
        port: int,
        settings: LoadSettings,
        *,
        duration_s: float,
        records_path: Path,
        locustfile: Path | None = None,
        host: str = LOOPBACK,
        python: str = sys.executable,
    ) -> None:
        if host != LOOPBACK:
            raise ValueError(
                f"load goes only to {LOOPBACK} (a NodePort mapped to loopback), not {host!r}"
            )
        if not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, not {port}")
        if duration_s < 1:
            raise ValueError(f"duration_s must be >= 1, not {duration_s}")
        # Locust's --run-time takes whole seconds.
        super().__init__(settings, float(math.ceil(duration_s)), records_path)
        self.address = LOOPBACK
        self.port = port
        self.locustfile = (
            Path(locustfile) if locustfile is not None else default_locustfile(settings.connection)
        )
        if not self.locustfile.is_file():
            raise LocustfileNotFound(f"locustfile {self.locustfile} does not exist")
        self.python = python
        self.stdout_path = self.records_path.with_name(self.records_path.name + ".stdout.txt")
        self.stderr_path = self.records_path.with_name(self.records_path.name + ".stderr.txt")
        # Kinds whose records come at the end of a held stream say here, a line per
        # stream opened, that the load flows (see wait_for_records).
        self.progress_path = self.records_path.with_name(self.records_path.name + ".progress")
        # Distributed: the master listens on a free loopback port for its workers.
        self.master_port = _free_loopback_port() if settings.processes > 1 else None
        self._proc: subprocess.Popen[bytes] | None = None  # the (master) Locust
        self._workers: list[subprocess.Popen[bytes]] = []

    @property
    def host_url(self) -> str:
        return self.url

    @property
    def distributed(self) -> bool:
        return self.settings.processes > 1

    def worker_records_paths(self) -> list[Path]:
        """processes > 1: the records file of each worker (records_path + .w<i>)."""
        if not self.distributed:
            return []
        name = self.records_path.name
        return [self.records_path.with_name(f"{name}.w{i}") for i in range(self.settings.processes)]

    def _written_paths(self) -> list[Path]:
        """The files the locustfile appends to while Locust runs."""
        return self.worker_records_paths() or [self.records_path]

    def _worker_log(self, i: int, stream: str) -> Path:
        return self.records_path.with_name(f"{self.records_path.name}.w{i}.{stream}.txt")

    def command(self) -> list[str]:
        """The Locust that runs the users, or the master of the workers when distributed."""
        if self.master_port is None:
            return self.locust_command("standalone")
        return self.locust_command(
            "master",
            master_host=LOOPBACK,
            master_port=self.master_port,
            workers=self.settings.processes,
            workers_wait_s=STARTUP_ALLOWANCE_S,
        )

    def worker_command(self) -> list[str]:
        """A worker of the distributed mode (the master sends it users and run time)."""
        if self.master_port is None:
            raise LoadError("a single-process LoadRun has no workers (settings.processes is 1)")
        return self.locust_command("worker", master_host=LOOPBACK, master_port=self.master_port)

    def environment(self, worker: int | None = None) -> dict[str, str]:
        """The environment of the single Locust, of the master (worker None) or of a worker."""
        env = dict(os.environ)
        env.update(self.settings.environment())
        if not self.distributed:
            records = str(self.records_path)
        elif worker is None:
            records = ""  # the master runs no user
        else:
            records = str(self.worker_records_paths()[worker])
        quarantine = env.get(QUARANTINE_ENV) or str(QUARANTINE_FILE)
        env.update(
            locustfiles.environment(
                {"records": records, "progress": self.progress_path, "port_quarantine": quarantine}
            ),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _procs(self) -> list[subprocess.Popen[bytes]]:
        return ([self._proc] if self._proc is not None else []) + self._workers

    def pids(self) -> list[int]:
        """The Locust processes once started: the single one, or the master then each worker."""
        return [proc.pid for proc in self._procs()]

    def start(self) -> LoadRun:
        if self._proc is not None:
            raise LoadError("this LoadRun was already started; create a new one")
        # Only this Python's packages can be checked: another interpreter answers itself.
        missing = traffic(self.settings.connection).missing()
        if missing and self.python == sys.executable:
            raise LoadError(missing)
        self.records_path.parent.mkdir(parents=True, exist_ok=True)
        # The records of this run only: the locustfile appends.
        for path in {self.records_path, *self._written_paths()}:
            path.write_text("", encoding="utf-8")
        self.progress_path.unlink(missing_ok=True)  # written only by held-stream kinds
        self._started = time.time()
        # Its own process group, killed as a whole. Distributed, the workers join the
        # master's group, which must stay in this session for that (setpgid's rule).
        leader = self._proc = self._spawn(
            self.command(),
            self.environment(),
            (self.stdout_path, self.stderr_path),
            start_new_session=not self.distributed,
            process_group=0 if self.distributed else None,
        )
        for i in range(self.settings.processes if self.distributed else 0):
            self._workers.append(
                self._spawn(
                    self.worker_command(),
                    self.environment(worker=i),
                    (self._worker_log(i, "stdout"), self._worker_log(i, "stderr")),
                    process_group=leader.pid,  # the master's group: killed with it
                )
            )
        return self

    @staticmethod
    def _spawn(
        command: list[str], env: dict[str, str], logs: tuple[Path, Path], **group: Any
    ) -> subprocess.Popen[bytes]:
        with logs[0].open("wb") as out, logs[1].open("wb") as err:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, **group
            )

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise LoadError("the load was not started; call start() or use `with LoadRun(...)`")
        return self._proc

    def log_tail(self) -> str:
        if not self.distributed:
            return tail(self.stderr_path)
        parts = [f"[master]\n{tail(self.stderr_path)}"]
        for i in range(self.settings.processes):
            parts.append(f"[worker {i}]\n{tail(self._worker_log(i, 'stderr'))}")
        return "\n".join(parts)

    def status(self) -> LoadStatus:
        procs = self._procs()
        seen = sum(count_lines(path) for path in self._written_paths())
        # A held stream is recorded when it ends; its opening is progress enough.
        seen = max(seen, count_lines(self.progress_path))
        exited = None
        for i, proc in enumerate(procs):
            if proc.poll() is not None:
                who = "Locust" if i == 0 else f"Locust worker {i - 1}"
                exited = f"{who} exited with {proc.returncode}"
                break
        return LoadStatus(seen, exited, all(proc.poll() is not None for proc in procs))

    @property
    def running(self) -> bool:
        # No file to count: only whether a process still runs.
        return any(proc.poll() is None for proc in self._procs())

    def collect(self) -> Collected:
        """The records (distributed: every worker's, merged into records_path)."""
        if self.distributed:
            records = merge_records(self.worker_records_paths(), self.records_path)
        else:
            records = load_records(self.records_path)
        return Collected(
            returncode=self._require_proc().wait(),
            records=records,
            worker_returncodes=tuple(w.wait() for w in self._workers),
        )

    def stop(self, grace_s: float | None = None) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL after grace_s). By default
        Locust gets the time to stop its users (--stop-timeout) and to let open-loop
        requests in flight end (two timeouts), and a margin: killed sooner, it would
        lose their records and look crashed."""
        if grace_s is None:
            grace_s = self.stop_timeout_s + 2 * self.settings.longest_call_s + 3
        proc = self._proc
        if proc is None or not self.running:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                # The group outlives its leader: workers may run after the master exited.
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            if _wait_all(self._procs(), wait_s):
                return

    def teardown(self, failed: bool) -> None:
        """Stop the group and reap every process (a failed start too)."""
        self.stop()
        for proc in self._procs():
            if proc.poll() is None:
                proc.wait()
