"""preStop variants of the sample workload: what runs between a pod's deletion and its
SIGTERM. Each is one small frozen dataclass behind `PreStopHook`:

  NoHook        nothing: SIGTERM arrives while endpoints are still being removed
  ExecHook      exec hook: writes /stop.log, logs hook_start/hook_end, sleeps
  HttpGetHook   httpGet hook on the app's /prestop?sleep=N
  SleepHook     the kubelet's own sleep action (lifecycle.preStop.sleep, k8s >= 1.30)

A new variant is a new subclass (in any file): it renders its `lifecycle` stanza and
says what it expects; nothing in the core changes. `HOOKS` maps the names used on the
command line and in scenario ids to the classes, each registered when it is defined.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from graceproof.errors import WorkloadSpecError
from graceproof.model import Expected
from graceproof.registry import Registry

__all__ = [
    "APP_STDOUT",
    "HOOKS",
    "STOP_LOG_MESSAGE",
    "STOP_LOG_PATH",
    "ExecHook",
    "HttpGetHook",
    "NoHook",
    "PreStopHook",
    "SleepHook",
    "as_hook",
    "prestop_exec_command",
]

STOP_LOG_PATH = "/stop.log"
STOP_LOG_MESSAGE = "this pod is stopping."
# The sample app is PID 1 (exec-form CMD); its stdout is the container log.
APP_STDOUT = "/proc/1/fd/1"
DEFAULT_SLEEP_S = 5


class PreStopHook(ABC):
    """One preStop variant: its name, its lifecycle stanza and what it expects."""

    name: ClassVar[str]
    # Whether the hook writes a file on the container's root filesystem (/stop.log):
    # then the sample app keeps its image's root user and a writable root, and cannot
    # meet Pod Security "restricted" (graceproof.podsecurity).
    writes_root_filesystem: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        HOOKS.register_class(cls, "name")

    @abstractmethod
    def lifecycle(self, app_port: int) -> dict[str, Any] | None:
        """The container's `lifecycle` (None: no hook at all)."""

    @property
    def holds_s(self) -> int:
        """How long the hook holds SIGTERM back (it counts against the grace period)."""
        return 0

    @property
    def expected(self) -> Expected:
        """What a zero-downtime proof of this variant must show."""
        return "no-errors"

    def check(self, grace_seconds: int) -> None:  # noqa: B027  (optional; most accept any)
        """Raise WorkloadSpecError when the hook cannot work with `grace_seconds`."""


# Every variant by its name, filled as they are defined.
HOOKS: Registry[type[PreStopHook]] = Registry("variant", PreStopHook)


@dataclass(frozen=True)
class _Sleeping(PreStopHook):
    """A hook that holds SIGTERM back for `sleep_seconds`."""

    sleep_seconds: int = DEFAULT_SLEEP_S

    def __post_init__(self) -> None:
        if self.sleep_seconds < 0:
            raise WorkloadSpecError(
                f"{self.name}: sleep_seconds must be >= 0, not {self.sleep_seconds}"
            )

    @property
    def holds_s(self) -> int:
        return self.sleep_seconds


@dataclass(frozen=True)
class NoHook(PreStopHook):
    """The negative control: no hook, so it must show errors."""

    name: ClassVar[str] = "no-hook"

    def lifecycle(self, app_port: int) -> dict[str, Any] | None:
        return None

    @property
    def expected(self) -> Expected:
        return "errors"


def _json_line(event: str, hook: str) -> str:
    # printf format: %s gets the date, the second %s the pod name.
    return f'{{"event": "{event}", "t": %s, "pod": "%s", "hook": "{hook}"}}\\n'


def prestop_exec_command(sleep_seconds: int) -> str:
    """The shell command of the exec hook.

    It writes STOP_LOG_MESSAGE to STOP_LOG_PATH (as the classic example
    `echo this pod is stopping. > /stop.log && sleep 10`), and hook_start/hook_end
    JSON lines to the app's stdout so the container log, and thus the timeline,
    learns when the hook ran. `date +%s.%N` needs GNU date (Debian images have it).
    """
    # `>>`: appending works whether the container stdout is a pipe or a file.
    start = _json_line("hook_start", "exec")
    end = _json_line("hook_end", "exec")
    # One step per line (joined by &&), so the YAML shows it as a readable block.
    return " &&\n".join(
        [
            f'printf \'{start}\' "$(date +%s.%N)" "$POD_NAME" >> {APP_STDOUT}',
            f"echo {STOP_LOG_MESSAGE} > {STOP_LOG_PATH}",
            f"sleep {sleep_seconds}",
            f'printf \'{end}\' "$(date +%s.%N)" "$POD_NAME" >> {APP_STDOUT}',
        ]
    )


@dataclass(frozen=True)
class ExecHook(_Sleeping):
    name: ClassVar[str] = "prestop-exec"
    writes_root_filesystem: ClassVar[bool] = True  # /stop.log

    def lifecycle(self, app_port: int) -> dict[str, Any] | None:
        return {
            "preStop": {"exec": {"command": ["sh", "-c", prestop_exec_command(self.sleep_seconds)]}}
        }


@dataclass(frozen=True)
class HttpGetHook(_Sleeping):
    name: ClassVar[str] = "prestop-http"

    def lifecycle(self, app_port: int) -> dict[str, Any] | None:
        return {
            "preStop": {
                "httpGet": {"path": f"/prestop?sleep={self.sleep_seconds}", "port": app_port}
            }
        }


@dataclass(frozen=True)
class SleepHook(_Sleeping):
    name: ClassVar[str] = "prestop-sleep"

    def lifecycle(self, app_port: int) -> dict[str, Any] | None:
        return {"preStop": {"sleep": {"seconds": self.sleep_seconds}}}

    def check(self, grace_seconds: int) -> None:
        if self.sleep_seconds > grace_seconds:
            # The API server rejects a sleep action longer than the grace period.
            raise WorkloadSpecError(
                f"prestop-sleep needs sleep_seconds ({self.sleep_seconds}) <= grace_seconds "
                f"({grace_seconds})"
            )


def as_hook(hook: PreStopHook | str, sleep_seconds: int = DEFAULT_SLEEP_S) -> PreStopHook:
    """`hook` itself, or the shipped variant of that name with `sleep_seconds`."""
    if isinstance(hook, PreStopHook):
        return hook
    cls = HOOKS.lookup(hook)
    if issubclass(cls, _Sleeping):
        return cls(sleep_seconds=sleep_seconds)
    return cls()
