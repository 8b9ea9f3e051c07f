"""Run Locust as a subprocess against a NodePort on 127.0.0.1 and collect its records.

Locust is never imported here: importing it monkey-patches gevent and urllib3 and
breaks the kubernetes client in this process (threads, watches, ssl recursion).

    with LoadRun(30080, LoadSettings(users=10, connection="new"), duration_s=30,
                 records_path=tmp / "records.jsonl") as load:
        load.wait_for_records()      # the load is flowing
        ...disrupt...
        result = load.wait()
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from graceproof import paths
from graceproof.errors import LoadError
from graceproof.model import CONNECTION_POLICIES, ConnectionPolicy, RequestRecord

LOOPBACK = "127.0.0.1"
LOCUSTFILE_ENV = "GRACEPROOF_LOCUSTFILE"
# Locust's startup (imports, gevent) before the first request, generously.
STARTUP_ALLOWANCE_S = 60.0
STDERR_TAIL_LINES = 40
# Source ports the locustfile binds for each new connection (see its docstring for
# why the kernel's own choice is not used on the loopback NodePort path); "kernel"
# turns it off.
DEFAULT_SOURCE_PORTS = "10000-32767"
# Source ports whose SYN got no answer, shared by the runs of this host (see the
# locustfile's docstring): one file per user in the temporary folder.
QUARANTINE_ENV = "GRACEPROOF_PORT_QUARANTINE"
QUARANTINE_FILE = Path(tempfile.gettempdir()) / f"graceproof-source-ports-{os.getuid()}.json"
# Methods a load may use: safe to repeat thousands of times against a running app.
HTTP_METHODS = ("GET", "HEAD", "OPTIONS")


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

    def __post_init__(self) -> None:
        if self.connection not in CONNECTION_POLICIES:
            raise ValueError(
                f"connection must be one of {CONNECTION_POLICIES}, not {self.connection!r}"
            )
        if self.users < 1:
            raise ValueError(f"users must be >= 1, not {self.users}")
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', not {self.path!r}")
        if self.method not in HTTP_METHODS:
            raise ValueError(f"method must be one of {HTTP_METHODS}, not {self.method!r}")
        bad = [s for s in self.expect_status if not 100 <= s <= 599]
        if bad:
            raise ValueError(f"expect_status must be HTTP statuses (100-599), not {bad}")

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
        }


def default_locustfile() -> Path:
    """The locustfile: $GRACEPROOF_LOCUSTFILE, else graceproof's own (`graceproof.paths`:
    workloads/locustfile.py of the checkout, else of the installed package data)."""
    from_env = os.environ.get(LOCUSTFILE_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise LocustfileNotFound(f"{LOCUSTFILE_ENV}={from_env} is not a file")
        return path
    shipped = paths.locustfile()
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
    command: list[str] = field(default_factory=list)

    @property
    def connection(self) -> ConnectionPolicy:
        return self.settings.connection

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records if not r.ok)

    def parameters(self) -> dict[str, Any]:
        """The load parameters, as a scenario result stores them."""
        settings = asdict(self.settings)
        del settings["connection"]  # a field of the result itself
        return {
            **settings,
            "duration_s": self.duration_s,
            "port": self.port,
            "returncode": self.returncode,
        }


class LoadRun:
    """One Locust run as a subprocess in its own process group (a context manager).

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
        self.locustfile = Path(locustfile) if locustfile is not None else default_locustfile()
        if not self.locustfile.is_file():
            raise LocustfileNotFound(f"locustfile {self.locustfile} does not exist")
        self.python = python
        # In-flight requests end within the per-request timeout; give them that and 1 s.
        self.stop_timeout_s = math.ceil(settings.timeout_s) + 1
        self.stdout_path = self.records_path.with_name(self.records_path.name + ".stdout.txt")
        self.stderr_path = self.records_path.with_name(self.records_path.name + ".stderr.txt")
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._result: LoadResult | None = None

    @property
    def host_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        users = str(self.settings.users)
        return [
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

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.environment())
        env.update(
            {
                "GRACEPROOF_RECORDS": str(self.records_path),
                "GRACEPROOF_PORT_QUARANTINE": env.get(QUARANTINE_ENV) or str(QUARANTINE_FILE),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LoadRun:
        if self._proc is not None:
            raise LoadError("this LoadRun was already started; create a new one")
        self.records_path.parent.mkdir(parents=True, exist_ok=True)
        # The records of this run only: the locustfile appends.
        self.records_path.write_text("", encoding="utf-8")
        self._started = time.time()
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.environment(),
                start_new_session=True,  # own process group: killed as a whole
            )
        return self

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise LoadError("the load was not started; call start() or use `with LoadRun(...)`")
        return self._proc

    def wait_for_records(self, count: int = 1, timeout_s: float = STARTUP_ALLOWANCE_S) -> int:
        """Block until at least `count` requests were recorded: the load is flowing.

        Raises LocustCrashed when Locust exits first, LoadTimeout after timeout_s.
        """
        proc = self._require_proc()
        deadline = time.monotonic() + timeout_s
        while True:
            seen = _count_lines(self.records_path)
            if seen >= count:
                return seen
            if proc.poll() is not None:
                raise LocustCrashed(
                    f"Locust exited with {proc.returncode} after {seen} request(s), before "
                    f"{count} were recorded; stderr:\n{_tail(self.stderr_path)}"
                )
            if time.monotonic() >= deadline:
                raise LoadTimeout(
                    f"only {seen} of {count} request(s) recorded after {timeout_s:.0f} s "
                    f"(is something listening on {self.host_url}?); stderr:\n"
                    f"{_tail(self.stderr_path)}"
                )
            time.sleep(0.1)

    def wait(self, timeout_s: float | None = None, *, check: bool = True) -> LoadResult:
        """Wait for Locust to finish (it stops itself after duration_s) and collect.

        Locust exits 1 when any request failed: that is data, not a harness failure.
        With check=True, raise LocustCrashed when Locust itself failed.
        """
        if self._result is not None:
            return self._result
        proc = self._require_proc()
        if timeout_s is None:
            timeout_s = self.duration_s + self.stop_timeout_s + STARTUP_ALLOWANCE_S
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise LoadTimeout(
                f"Locust did not finish within {timeout_s:.0f} s (run time {self.duration_s:.0f}"
                f" s) and was killed; stderr:\n{_tail(self.stderr_path)}"
            ) from None
        result = LoadResult(
            returncode=returncode,
            records=load_records(self.records_path),
            settings=self.settings,
            duration_s=self.duration_s,
            port=self.port,
            started=self._started,
            finished=time.time(),
            stderr_tail=_tail(self.stderr_path),
            records_path=str(self.records_path),
            command=self.command(),
        )
        self._result = result
        if check:
            problem = crash_reason(result)
            if problem:
                raise LocustCrashed(f"{problem}; stderr:\n{result.stderr_tail}")
        return result

    def stop(self, grace_s: float = 5.0) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL after grace_s)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

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
        if self._proc is not None and self._proc.poll() is None:
            self._proc.wait()


def crash_reason(result: LoadResult) -> str | None:
    """Why a Locust run counts as a harness failure, or None when it ran.

    0: all requests succeeded; 1: some failed (data). Anything else, or no request
    recorded at all, means Locust itself did not work.
    """
    if result.returncode not in (0, 1):
        return f"Locust exited with {result.returncode} (not 0 or 1: it failed by itself)"
    if not result.records:
        crashed = "Traceback" in result.stderr_tail
        what = "Locust raised an exception" if crashed else "Locust ran"
        return f"{what} and recorded no request (exit code {result.returncode})"
    return None
