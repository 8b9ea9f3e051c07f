"""What every load runner does the same way, written once (`LoadRunner`).

A runner is one Locust run as a context manager. The base owns its lifecycle: enter
starts it and cleans up when the start fails, exit tears it down; the two waits (for
the first records, for the end) go through graceproof.waiting; the Locust command line
of each role (a single Locust, a master, a worker) is built here; and the `LoadResult`
is assembled here. A runner says only what differs where it runs: `start`, `status`,
`stop`, `collect` and `teardown` (graceproof.load.host_run.LoadRun: subprocesses on this
host; graceproof.load.cluster_run.ClusterLoadRun: pods in the cluster).
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from graceproof.errors import LoadError, WaitTimeout
from graceproof.load.result import LoadResult, LoadTimeout, LocustCrashed, crash_reason
from graceproof.load.settings import LoadSettings
from graceproof.model import RequestRecord
from graceproof.started import Started
from graceproof.waiting import wait_for

__all__ = ["STARTUP_ALLOWANCE_S", "Collected", "LoadRunner", "LoadStatus", "Role"]

log = logging.getLogger(__name__)

# Locust's startup (imports, gevent) before the first request, generously.
STARTUP_ALLOWANCE_S = 60.0

Role = Literal["standalone", "master", "worker"]
"""A Locust process: one that runs the users alone, the master of workers, a worker."""


@dataclass(frozen=True)
class LoadStatus:
    """What a runner sees of its Locust while it runs."""

    seen: int  # requests recorded so far (or held streams opened: they record at the end)
    exited: str | None  # a Locust process that has exited, e.g. "Locust exited with 3"
    finished: bool  # every Locust process has exited


@dataclass(frozen=True)
class Collected:
    """What a runner brings back once its Locust has finished."""

    returncode: int  # the (master) Locust's
    records: list[RequestRecord]
    worker_returncodes: tuple[int, ...] = ()
    # Where the load ran, when not on this host (LoadResult.placement).
    placement: dict[str, Any] = field(default_factory=dict)
    # Why the run does not count although Locust itself ran (e.g. records lost).
    problem: str | None = None


class LoadRunner(Started):
    """One Locust run (a context manager): started on entering the `with` block, torn
    down on leaving it, normally, by an exception or by Ctrl-C."""

    name: ClassVar[str] = "Locust"
    """The Locust of this runner, in error messages."""
    log_label: ClassVar[str] = "stderr"
    """What log_tail() shows, in error messages."""
    poll_s: ClassVar[float] = 0.1
    """Between two looks at status() while waiting."""

    settings: LoadSettings
    duration_s: float  # Locust's --run-time: it stops by itself after it
    stop_timeout_s: int
    records_path: Path
    locustfile: Path
    python: str
    address: str  # where the load goes
    port: int

    def __init__(self, settings: LoadSettings, duration_s: float, records_path: Path) -> None:
        self.settings = settings
        self.duration_s = duration_s
        self.stop_timeout_s = settings.stop_timeout_s
        self.records_path = Path(records_path)
        self._started = 0.0  # the host's clock when the load began
        self._result: LoadResult | None = None

    # --- what differs where the load runs ---
    @abstractmethod
    def start(self) -> Any:
        """Start Locust; on an exception, teardown() follows at once."""

    @abstractmethod
    def status(self) -> LoadStatus: ...

    @abstractmethod
    def stop(self) -> None:
        """Ask Locust to stop now (before its run time ran out)."""

    @abstractmethod
    def collect(self) -> Collected:
        """Once Locust finished: its exit status and its records (also on records_path)."""

    @abstractmethod
    def teardown(self, failed: bool) -> None:
        """Leave nothing running; `failed`: the run (or its start) raised."""

    @abstractmethod
    def log_tail(self) -> str:
        """The end of Locust's log, for error messages and the result."""

    @abstractmethod
    def command(self) -> list[str]:
        """The (master) Locust's command line, as the result records it."""

    # --- the same everywhere ---
    def stop_after(self, failed: bool) -> None:
        self.teardown(failed=failed)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def running(self) -> bool:
        return not self.status().finished

    def locust(self) -> list[str]:
        """How Locust is run with the locustfile, before the options of its role."""
        return [self.python, "-m", "locust", "-f", str(self.locustfile)]

    def locust_command(
        self,
        role: Role,
        *,
        master_host: str | None = None,
        master_port: int = 0,
        workers: int = 0,
        workers_wait_s: float = STARTUP_ALLOWANCE_S,
    ) -> list[str]:
        """The command line of one Locust process. A worker connects to master_host
        and master_port and gets its users and run time from the master; the master
        binds master_host (None: every address) and waits workers_wait_s for `workers`."""
        if role == "worker":
            if master_host is None:
                raise LoadError("a Locust worker needs its master's address")
            return [
                *self.locust(), "--worker",
                "--master-host", master_host, "--master-port", str(master_port),
                "--host", self.url,  # the locustfile checks it before any user starts
            ]  # fmt: skip
        users = str(self.settings.users)
        command = [
            *self.locust(), "--headless", "--users", users,
            # All users at once: the load is steady before the warm-up ends.
            "--spawn-rate", users,
            "--run-time", f"{int(self.duration_s)}s", "--stop-timeout", str(self.stop_timeout_s),
            "--host", self.url, "--only-summary",
        ]  # fmt: skip
        if role == "master":
            bind = ["--master-bind-host", master_host] if master_host is not None else []
            command += [
                "--master", *bind, "--master-bind-port", str(master_port),
                "--expect-workers", str(workers),
                "--expect-workers-max-wait", str(int(workers_wait_s)),
            ]  # fmt: skip
        return command

    def _require_started(self) -> None:
        if not self._started:
            raise LoadError(
                f"the load was not started; call start() or use `with {type(self).__name__}(...)`"
            )

    def _logs(self, text: str | None = None) -> str:
        return f"{self.log_label}:\n{self.log_tail() if text is None else text}"

    def _no_records_hint(self) -> str:
        """Why no request may have been recorded, for the timeout's message."""
        return f"(is something listening on {self.url}?)"

    def wait_for_records(self, count: int = 1, timeout_s: float = STARTUP_ALLOWANCE_S) -> int:
        """Block until at least `count` requests were recorded: the load is flowing.

        Raises LocustCrashed when Locust (or a worker) exits first, LoadTimeout after
        timeout_s.
        """
        self._require_started()
        last = LoadStatus(0, None, False)

        def recorded() -> int | None:
            nonlocal last
            last = self.status()
            if last.seen >= count:
                return last.seen
            if last.exited:
                raise LocustCrashed(
                    f"{last.exited} after {last.seen} request(s), before {count} were "
                    f"recorded; {self._logs()}"
                )
            return None

        try:
            return wait_for(
                recorded,
                what=f"{count} request(s) recorded by {self.name}",
                timeout=timeout_s,
                interval=self.poll_s,
                transient=(),  # an API error while looking is the run's failure
                progress=log.debug,
            )
        except WaitTimeout:
            raise LoadTimeout(
                f"only {last.seen} of {count} request(s) recorded after {timeout_s:.0f} s "
                f"{self._no_records_hint()}; {self._logs()}"
            ) from None

    def wait(self, timeout_s: float | None = None, *, check: bool = True) -> LoadResult:
        """Wait for Locust to finish (it stops itself after duration_s) and collect.

        Locust exits 1 when any request failed: that is data, not a harness failure.
        With check=True, raise LocustCrashed when Locust itself failed, and LoadError
        when the runner lost records.
        """
        if self._result is not None:
            return self._result
        self._require_started()
        if timeout_s is None:
            timeout_s = self.duration_s + self.stop_timeout_s + STARTUP_ALLOWANCE_S
        try:
            wait_for(
                lambda: self.status().finished or None,
                what=f"{self.name} to finish",
                timeout=timeout_s,
                interval=self.poll_s,
                transient=(),
                progress=log.debug,
            )
        except WaitTimeout:
            self.stop()
            raise LoadTimeout(
                f"{self.name} did not finish within {timeout_s:.0f} s (run time "
                f"{self.duration_s:.0f} s) and was stopped; {self._logs()}"
            ) from None
        got = self.collect()
        result = LoadResult(
            returncode=got.returncode,
            records=got.records,
            settings=self.settings,
            duration_s=self.duration_s,
            port=self.port,
            started=self._started,
            finished=time.time(),
            stderr_tail=self.log_tail(),
            records_path=str(self.records_path),
            command=self.command(),
            worker_returncodes=got.worker_returncodes,
            placement=got.placement,
        )
        self._result = result
        if check:
            problem = crash_reason(result)
            if problem:
                raise LocustCrashed(f"{problem}; {self._logs(result.stderr_tail)}")
            if got.problem:
                raise LoadError(got.problem)
        return result
