"""Run Locust as a subprocess against a NodePort on 127.0.0.1 and collect its records.

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
one process group, each worker writing its own records file, merged by wait().
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
from types import TracebackType
from typing import Any

from graceproof import locustfiles
from graceproof.errors import LoadError
from graceproof.load_result import (
    LoadResult,
    LoadTimeout,
    LocustCrashed,
    count_lines,
    crash_reason,
    load_records,
    merge_records,
    tail,
)
from graceproof.load_settings import (
    DEFAULT_SOURCE_PORTS,
    HTTP_METHODS,
    LOAD_MODES,
    LoadMode,
    LoadSettings,
)
from graceproof.locustfiles import LOCUSTFILE_ENV, LocustfileNotFound, default_locustfile
from graceproof.traffic import traffic

# The names graceproof.load has always offered: its settings, results and locustfiles
# live in modules of their own.
__all__ = [
    "DEFAULT_SOURCE_PORTS", "HTTP_METHODS", "LOAD_MODES", "LOCUSTFILE_ENV", "QUARANTINE_ENV",
    "QUARANTINE_FILE", "STARTUP_ALLOWANCE_S", "LoadMode", "LoadResult", "LoadRun", "LoadSettings",
    "LoadTimeout", "LocustCrashed", "LocustfileNotFound", "crash_reason", "default_locustfile",
    "load_records", "merge_records",
]  # fmt: skip

LOOPBACK = "127.0.0.1"
# Locust's startup (imports, gevent) before the first request, generously.
STARTUP_ALLOWANCE_S = 60.0
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


class LoadRun:
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
        self.port = port
        self.settings = settings
        # Locust's --run-time takes whole seconds.
        self.duration_s = float(math.ceil(duration_s))
        self.records_path = Path(records_path)
        self.locustfile = (
            Path(locustfile) if locustfile is not None else default_locustfile(settings.connection)
        )
        if not self.locustfile.is_file():
            raise LocustfileNotFound(f"locustfile {self.locustfile} does not exist")
        self.python = python
        self.stop_timeout_s = settings.stop_timeout_s
        self.stdout_path = self.records_path.with_name(self.records_path.name + ".stdout.txt")
        self.stderr_path = self.records_path.with_name(self.records_path.name + ".stderr.txt")
        # Kinds whose records come at the end of a held stream say here, a line per
        # stream opened, that the load flows (see wait_for_records).
        self.progress_path = self.records_path.with_name(self.records_path.name + ".progress")
        # Distributed: the master listens on a free loopback port for its workers.
        self.master_port = _free_loopback_port() if settings.processes > 1 else None
        self._proc: subprocess.Popen[bytes] | None = None  # the (master) Locust
        self._workers: list[subprocess.Popen[bytes]] = []
        self._started = 0.0
        self._result: LoadResult | None = None

    @property
    def host_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

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
        users = str(self.settings.users)
        locust = [self.python, "-m", "locust", "-f", str(self.locustfile)]
        command = [
            *locust, "--headless", "--users", users,
            # All users at once: the load is steady before the warm-up ends.
            "--spawn-rate", users,
            "--run-time", f"{int(self.duration_s)}s", "--stop-timeout", str(self.stop_timeout_s),
            "--host", self.host_url, "--only-summary",
        ]  # fmt: skip
        if self.master_port is not None:
            command += [
                "--master", "--master-bind-host", LOOPBACK,
                "--master-bind-port", str(self.master_port),
                "--expect-workers", str(self.settings.processes),
                "--expect-workers-max-wait", str(int(STARTUP_ALLOWANCE_S)),
            ]  # fmt: skip
        return command

    def worker_command(self) -> list[str]:
        """A worker of the distributed mode (the master sends it users and run time)."""
        if self.master_port is None:
            raise LoadError("a single-process LoadRun has no workers (settings.processes is 1)")
        return [
            self.python, "-m", "locust", "-f", str(self.locustfile),
            "--worker", "--master-host", LOOPBACK, "--master-port", str(self.master_port),
            "--host", self.host_url,  # the locustfile checks it before any user starts
        ]  # fmt: skip

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

    @property
    def running(self) -> bool:
        return any(proc.poll() is None for proc in self._procs())

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

    def _stderr_tails(self) -> str:
        if not self.distributed:
            return tail(self.stderr_path)
        parts = [f"[master]\n{tail(self.stderr_path)}"]
        for i in range(self.settings.processes):
            parts.append(f"[worker {i}]\n{tail(self._worker_log(i, 'stderr'))}")
        return "\n".join(parts)

    def _exited_early(self) -> str | None:
        for i, proc in enumerate(self._procs()):
            if proc.poll() is not None:
                who = "Locust" if i == 0 else f"Locust worker {i - 1}"
                return f"{who} exited with {proc.returncode}"
        return None

    def wait_for_records(self, count: int = 1, timeout_s: float = STARTUP_ALLOWANCE_S) -> int:
        """Block until at least `count` requests were recorded: the load is flowing.

        Raises LocustCrashed when Locust (or a worker) exits first, LoadTimeout after
        timeout_s.
        """
        self._require_proc()
        deadline = time.monotonic() + timeout_s
        while True:
            seen = sum(count_lines(path) for path in self._written_paths())
            # A held stream is recorded when it ends; its opening is progress enough.
            seen = max(seen, count_lines(self.progress_path))
            if seen >= count:
                return seen
            exited = self._exited_early()
            if exited:
                raise LocustCrashed(
                    f"{exited} after {seen} request(s), before {count} were recorded; "
                    f"stderr:\n{self._stderr_tails()}"
                )
            if time.monotonic() >= deadline:
                raise LoadTimeout(
                    f"only {seen} of {count} request(s) recorded after {timeout_s:.0f} s "
                    f"(is something listening on {self.host_url}?); stderr:\n"
                    f"{self._stderr_tails()}"
                )
            time.sleep(0.1)

    def wait(self, timeout_s: float | None = None, *, check: bool = True) -> LoadResult:
        """Wait for Locust to finish (it stops itself after duration_s) and collect;
        distributed, wait for every worker too and merge their records into records_path.

        Locust exits 1 when any request failed: that is data, not a harness failure.
        With check=True, raise LocustCrashed when Locust itself failed.
        """
        if self._result is not None:
            return self._result
        proc = self._require_proc()
        if timeout_s is None:
            timeout_s = self.duration_s + self.stop_timeout_s + STARTUP_ALLOWANCE_S
        if not _wait_all(self._procs(), timeout_s):
            self.stop()
            raise LoadTimeout(
                f"Locust did not finish within {timeout_s:.0f} s (run time {self.duration_s:.0f}"
                f" s) and was killed; stderr:\n{self._stderr_tails()}"
            )
        if self.distributed:
            records = merge_records(self.worker_records_paths(), self.records_path)
        else:
            records = load_records(self.records_path)
        result = LoadResult(
            returncode=proc.wait(),
            records=records,
            settings=self.settings,
            duration_s=self.duration_s,
            port=self.port,
            started=self._started,
            finished=time.time(),
            stderr_tail=self._stderr_tails(),
            records_path=str(self.records_path),
            command=self.command(),
            worker_returncodes=tuple(w.wait() for w in self._workers),
        )
        self._result = result
        if check:
            problem = crash_reason(result)
            if problem:
                raise LocustCrashed(f"{problem}; stderr:\n{result.stderr_tail}")
        return result

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

    def __enter__(self) -> LoadRun:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        for proc in self._procs():
            if proc.poll() is None:
                proc.wait()
