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
its duration runs from it (see the locustfile's docstring). When one core cannot reach
the rate, `processes` > 1 runs Locust distributed: a master and that many workers in
one process group, each worker writing its own records file, merged by wait().
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

from graceproof import paths
from graceproof.errors import LoadError
from graceproof.model import ConnectionPolicy, RequestRecord
from graceproof.traffic import traffic

LOOPBACK = "127.0.0.1"
LOCUSTFILE_ENV = "GRACEPROOF_LOCUSTFILE"
# Locust's startup (imports, gevent) before the first request, generously.
STARTUP_ALLOWANCE_S = 60.0
STDERR_TAIL_LINES = 40
# Source ports the locustfile binds for each new connection (see its docstring for
# why the kernel's own choice is not used on the loopback NodePort path); "kernel"
# turns it off. Below Kubernetes' NodePort range (30000-32767): on kind, docker-proxy
# listens on 127.0.0.1:30080-30089, and a source port taken from there (bound, or in
# TIME-WAIT) both fails that bind and keeps docker-proxy from binding it (seen once,
# creating a container with -p 127.0.0.1:30085).
DEFAULT_SOURCE_PORTS = "10000-29999"
# Source ports whose SYN got no answer, shared by the runs of this host (see the
# locustfile's docstring): one file per user in the temporary folder.
QUARANTINE_ENV = "GRACEPROOF_PORT_QUARANTINE"
QUARANTINE_FILE = Path(tempfile.gettempdir()) / f"graceproof-source-ports-{os.getuid()}.json"
# Methods a load may use: safe to repeat thousands of times against a running app.
HTTP_METHODS = ("GET", "HEAD", "OPTIONS")

LoadMode = Literal["closed", "open"]
"""`closed`: each user waits for an answer before its next request; `open`: requests
arrive at a fixed rate whatever the answers do."""
LOAD_MODES: tuple[LoadMode, ...] = get_args(LoadMode)


class LocustfileNotFound(LoadError):
    """No locustfile: graceproof was installed without the repository's workloads/."""


class LocustCrashed(LoadError):
    """Locust failed by itself (no records, a traceback), as opposed to requests failing."""


class LoadTimeout(LoadError):
    """Locust did not finish within its deadline; it was killed."""


@dataclass(frozen=True)
class LoadSettings:
    """How the load behaves, written once: a scenario holds one, LoadRun runs it and the
    result records it."""

    users: int = 10
    connection: ConnectionPolicy = "new"
    timeout_s: float = 2.0  # per request
    wait_s: float = 0.01  # pause of each user between requests
    path: str = "/"
    method: str = "GET"
    host_header: str | None = None  # a Host header, for servers that route by name
    # Statuses that count as success; empty: any status below 400.
    expect_status: tuple[int, ...] = ()
    source_ports: str = DEFAULT_SOURCE_PORTS
    mode: LoadMode = "closed"
    # Open mode: requests per second, all users together (required there; closed-loop
    # users send as fast as the answers come and take no rate).
    rate: float | None = None
    # Locust processes: 1, or more to pass one core's limit (a master and this many
    # workers; each needs a user at least).
    processes: int = 1
    # Open mode, per user: requests in flight at most; None: 2 x the user's rate x
    # timeout_s + 10 (every arrival of two timeouts). An arrival that finds them all
    # busy is recorded as "late".
    max_in_flight: int | None = None
    # Open mode: an arrival that cannot start within this of its intended time is not
    # sent and is recorded with error "late" (its duration counts from the intended time
    # anyway, so a small delay hides nothing).
    late_after_s: float = 0.02
    # Settings of the traffic kind's own locustfile (Traffic.options names them), passed
    # as GRACEPROOF_<NAME>: e.g. {"grpc_delay": "0.2"} for calls in flight at any time.
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be >= 1, not {self.users}")
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', not {self.path!r}")
        if self.method not in HTTP_METHODS:
            raise ValueError(f"method must be one of {HTTP_METHODS}, not {self.method!r}")
        bad = [s for s in self.expect_status if not 100 <= s <= 599]
        if bad:
            raise ValueError(f"expect_status must be HTTP statuses (100-599), not {bad}")
        self._check_mode()
        kind = traffic(self.connection)  # ValueError naming the known kinds
        if self.mode not in kind.modes:
            raise ValueError(
                f"connection {self.connection!r} runs in mode {' or '.join(kind.modes)}, not "
                f"{self.mode!r} ({kind.description})"
            )
        unknown = sorted(set(self.options) - set(kind.options))
        if unknown:
            raise ValueError(
                f"options {unknown} are not settings of connection {self.connection!r}; it "
                f"takes {list(kind.options) or 'none'}"
            )
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1 (1: a single Locust), not {self.processes}")
        if self.processes > self.users:
            raise ValueError(
                f"processes ({self.processes}) must not exceed users ({self.users}): each "
                f"Locust worker runs one user at least; raise users or lower processes"
            )

    def _check_mode(self) -> None:
        if self.mode not in LOAD_MODES:
            raise ValueError(f"mode must be one of {LOAD_MODES}, not {self.mode!r}")
        if self.mode == "closed":
            for name in ("rate", "max_in_flight"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} applies to mode='open' only (closed-loop users send when "
                        f"the previous answer came); drop {name} or set mode='open'"
                    )
            return
        if self.rate is None:
            raise ValueError(
                "rate is required when mode='open': the requests per second of all users "
                "together, e.g. LoadSettings(mode='open', rate=200)"
            )
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be a number of requests per second > 0, not {self.rate}")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError(
                f"max_in_flight must be >= 1 (or None for the default), not {self.max_in_flight}"
            )
        if not self.late_after_s > 0:
            raise ValueError(f"late_after_s must be > 0 seconds, not {self.late_after_s}")

    @property
    def longest_call_s(self) -> float:
        """The longest one request may take (graceproof.traffic.Traffic.longest_call_s)."""
        return traffic(self.connection).longest_call_s(self)

    @property
    def stop_timeout_s(self) -> int:
        """Locust's --stop-timeout: its users finish the requests in flight, each within
        the longest a request may take (an open-loop one may hang in connect and read)."""
        hang_s = self.longest_call_s if self.mode == "closed" else 2 * self.longest_call_s
        return math.ceil(hang_s) + 1

    def describe(self) -> str:
        """One line for progress output: mode, rate, users, processes, connection."""
        pace = f"open loop at {self.rate:g}/s" if self.mode == "open" else "closed loop"
        procs = f" in {self.processes} processes" if self.processes > 1 else ""
        return (
            f"{pace}, {self.users} users{procs}, {self.connection} connections, "
            f"{self.method} {self.path}"
        )

    def environment(self) -> dict[str, str]:
        """The locustfile's settings, as the environment variables it reads."""
        return {
            "GRACEPROOF_CONNECTION": self.connection,
            "GRACEPROOF_TIMEOUT": str(self.timeout_s),
            "GRACEPROOF_WAIT": str(self.wait_s),
            "GRACEPROOF_PATH": self.path,
            "GRACEPROOF_METHOD": self.method,
            "GRACEPROOF_HOST_HEADER": self.host_header or "",
            "GRACEPROOF_EXPECT": ",".join(str(s) for s in self.expect_status),
            "GRACEPROOF_SOURCE_PORTS": self.source_ports,
            "GRACEPROOF_MODE": self.mode,
            "GRACEPROOF_RATE": str(self.rate or ""),
            # The users the rate is shared by, over every Locust process.
            "GRACEPROOF_USERS": str(self.users),
            "GRACEPROOF_MAX_IN_FLIGHT": str(self.max_in_flight or ""),
            "GRACEPROOF_LATE_AFTER": str(self.late_after_s),
            "GRACEPROOF_LONGEST_CALL": str(self.longest_call_s),
            **{f"GRACEPROOF_{k.upper()}": str(v) for k, v in self.options.items()},
        }


def default_locustfile(connection: ConnectionPolicy = "new") -> Path:
    """The locustfile of a traffic kind: graceproof's own (`graceproof.paths`: under
    workloads/ of the checkout, else of the installed package data); for the HTTP kinds,
    $GRACEPROOF_LOCUSTFILE first."""
    name = traffic(connection).locustfile
    from_env = os.environ.get(LOCUSTFILE_ENV) if name == paths.locustfile().name else None
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise LocustfileNotFound(f"{LOCUSTFILE_ENV}={from_env} is not a file")
        return path
    shipped = paths.workloads_dir() / name
    if shipped.is_file():
        return shipped
    raise LocustfileNotFound(
        f"graceproof's locustfile {shipped} is missing (an install without its package "
        f"data?); pass locustfile=... or set {LOCUSTFILE_ENV} to a copy of it"
    )


def load_records(path: Path) -> list[RequestRecord]:
    """Read a records file (one JSON object per line); a torn last line is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(RequestRecord.from_dict(json.loads(line)))
        except json.JSONDecodeError:
            continue  # only the last line can be torn, when Locust was killed mid-write
    return records


def merge_records(parts: list[Path], into: Path) -> list[RequestRecord]:
    """The records of several files (one per Locust worker), sorted by start time and
    written to `into` in one rename; the parts stay as they are."""
    records = sorted((r for part in parts for r in load_records(part)), key=lambda r: r.t)
    tmp = into.with_name(into.name + ".merging")
    tmp.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, into)
    return records


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


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


@dataclass(frozen=True)
class LoadResult:
    """What one Locust run did: its exit status and every request it made."""

    returncode: int
    records: list[RequestRecord]
    settings: LoadSettings
    duration_s: float
    port: int
    started: float
    finished: float
    stderr_tail: str = ""
    records_path: str = ""
    command: list[str] = field(default_factory=list)  # the (master) Locust's
    worker_returncodes: tuple[int, ...] = ()  # processes > 1: each worker's exit status
    # Where the load ran, when not on this host (graceproof.placement): its pods,
    # nodes, clock offsets and the completeness of its records.
    placement: dict[str, Any] = field(default_factory=dict)

    @property
    def connection(self) -> ConnectionPolicy:
        return self.settings.connection

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records if not r.ok)

    @property
    def late(self) -> int:
        """Open-loop arrivals that could not be sent on time (error "late")."""
        return sum(1 for r in self.records if r.late)

    def parameters(self) -> dict[str, Any]:
        """The load parameters, as a scenario result stores them (mode and rate included)."""
        settings = asdict(self.settings)
        del settings["connection"]  # a field of the result itself
        out = {
            **settings,
            "duration_s": self.duration_s,
            "port": self.port,
            "returncode": self.returncode,
        }
        if self.placement:
            out["placement"] = self.placement
        return out


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
        command = [
            self.python,
            "-m",
            "locust",
            "-f",
            str(self.locustfile),
            "--headless",
            "--users",
            users,
            "--spawn-rate",
            users,  # all users at once: the load is steady before the warm-up ends
            "--run-time",
            f"{int(self.duration_s)}s",
            "--stop-timeout",
            str(self.stop_timeout_s),
            "--host",
            self.host_url,
            "--only-summary",
        ]
        if self.master_port is not None:
            command += [
                "--master",
                "--master-bind-host",
                LOOPBACK,
                "--master-bind-port",
                str(self.master_port),
                "--expect-workers",
                str(self.settings.processes),
                "--expect-workers-max-wait",
                str(int(STARTUP_ALLOWANCE_S)),
            ]
        return command

    def worker_command(self) -> list[str]:
        """A worker of the distributed mode (the master sends it users and run time)."""
        if self.master_port is None:
            raise LoadError("a single-process LoadRun has no workers (settings.processes is 1)")
        return [
            self.python,
            "-m",
            "locust",
            "-f",
            str(self.locustfile),
            "--worker",
            "--master-host",
            LOOPBACK,
            "--master-port",
            str(self.master_port),
            "--host",
            self.host_url,  # the locustfile checks it before any user starts
        ]

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
        env.update(
            {
                "GRACEPROOF_RECORDS": records,
                "GRACEPROOF_PROGRESS": str(self.progress_path),
                "GRACEPROOF_PORT_QUARANTINE": env.get(QUARANTINE_ENV) or str(QUARANTINE_FILE),
                "PYTHONUNBUFFERED": "1",
            }
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
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            leader = self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.environment(),
                start_new_session=not self.distributed,
                process_group=0 if self.distributed else None,
            )
        for i in range(self.settings.processes if self.distributed else 0):
            with (
                self._worker_log(i, "stdout").open("wb") as out,
                self._worker_log(i, "stderr").open("wb") as err,
            ):
                self._workers.append(
                    subprocess.Popen(
                        self.worker_command(),
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        env=self.environment(worker=i),
                        process_group=leader.pid,  # the master's group: killed with it
                    )
                )
        return self

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise LoadError("the load was not started; call start() or use `with LoadRun(...)`")
        return self._proc

    def _stderr_tails(self) -> str:
        if not self.distributed:
            return _tail(self.stderr_path)
        parts = [f"[master]\n{_tail(self.stderr_path)}"]
        for i in range(self.settings.processes):
            parts.append(f"[worker {i}]\n{_tail(self._worker_log(i, 'stderr'))}")
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
            seen = sum(_count_lines(path) for path in self._written_paths())
            # A held stream is recorded when it ends; its opening is progress enough.
            seen = max(seen, _count_lines(self.progress_path))
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


def crash_reason(result: LoadResult) -> str | None:
    """Why a Locust run counts as a harness failure, or None when it ran.

    0: all requests succeeded; 1: some failed (data). Anything else, from the Locust or
    any of its workers, or no request recorded at all, means Locust itself did not work.
    """
    if result.returncode not in (0, 1):
        return f"Locust exited with {result.returncode} (not 0 or 1: it failed by itself)"
    for i, code in enumerate(result.worker_returncodes):
        if code not in (0, 1):
            return f"Locust worker {i} exited with {code} (not 0 or 1: it failed by itself)"
    if not result.records:
        crashed = "Traceback" in result.stderr_tail
        what = "Locust raised an exception" if crashed else "Locust ran"
        return f"{what} and recorded no request (exit code {result.returncode})"
    return None
