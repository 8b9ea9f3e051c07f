"""The one bounded wait loop (`wait_for`) and what it waits for (`Condition`).

Every wait has a deadline, an interval, a list of transient errors it tolerates and,
when it times out, the last state it saw. A condition is a probe (returns the
awaited value, or None while not there yet) plus a description of what it last saw.
The named conditions are in graceproof.waiting (pods, namespaces, nodes) and
graceproof.controllers (a Deployment's or StatefulSet's rollout).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_delay

from graceproof.errors import WaitTimeout

__all__ = [
    "DEFAULT_TRANSIENT",
    "PROGRESS_EVERY",
    "Condition",
    "Seen",
    "conditions_text",
    "is_transient",
    "wait_for",
]

T = TypeVar("T")
# The logger progress lines always went to, before this loop left graceproof.waiting.
log = logging.getLogger("graceproof.waiting")

# Errors that say "not now" rather than "never": an overloaded or restarting API
# server (5xx, 429; see is_transient) or a connection that failed.
DEFAULT_TRANSIENT: tuple[type[BaseException], ...] = (
    ApiException,
    urllib3.exceptions.MaxRetryError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.TimeoutError,
    ConnectionError,
)
PROGRESS_EVERY = 10.0  # seconds between progress lines of a long wait


class _NotYet(Exception):
    """The probe has not seen the awaited state yet (tenacity retries on this only)."""


def is_transient(exc: BaseException, transient: tuple[type[BaseException], ...]) -> bool:
    """Whether `exc` is worth retrying: of a `transient` type and, for ApiException,
    a 5xx or 429 (a 404 or 422 will not change by waiting)."""
    if not isinstance(exc, transient):
        return False
    if isinstance(exc, ApiException):
        status = exc.status or 0
        return status == 0 or status == 429 or status >= 500
    return True


def _last_state(describe: Callable[[], str] | None) -> str:
    if describe is None:
        return "not there yet (the probe returned None)"
    try:
        return describe()
    except Exception as exc:  # describing must never hide the timeout itself
        return f"(could not describe the state: {type(exc).__name__}: {exc})"


def wait_for(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.5,
    transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT,
    describe: Callable[[], str] | None = None,
    progress: Callable[[str], None] | None = None,
    hint: str | None = None,
) -> T:
    """Call `probe` every `interval` s until it returns a value other than None.

    Returns that value. A transient error is remembered and retried; any other error
    propagates at once. Past `timeout` s raises `WaitTimeout` carrying `describe()`
    (the last observed state) and the last transient error. A progress line goes to
    `progress` (default: this module's logger) every PROGRESS_EVERY s.
    """
    last_error: BaseException | None = None
    report = progress or log.info
    started = time.monotonic()
    deadline = started + max(timeout, 0.0)
    next_progress = started + PROGRESS_EVERY

    def attempt() -> T:
        nonlocal last_error
        try:
            value = probe()
        except BaseException as exc:
            if is_transient(exc, transient):
                last_error = exc
                raise _NotYet from exc
            raise
        if value is None:
            raise _NotYet
        return value

    def sleep_time(retry_state: RetryCallState) -> float:
        # wait_fixed, shortened so that one last probe happens right at the deadline.
        return max(0.0, min(interval, deadline - time.monotonic()))

    def before_sleep(retry_state: RetryCallState) -> None:
        nonlocal next_progress
        now = time.monotonic()
        if now >= next_progress:
            next_progress = now + PROGRESS_EVERY
            waited = f"{now - started:.0f}s of {timeout:g}s"
            report(f"still waiting for {what} ({waited}): {_last_state(describe)}")

    retrying = Retrying(
        stop=stop_after_delay(max(timeout, 0.0)),
        wait=sleep_time,
        retry=retry_if_exception_type(_NotYet),
        before_sleep=before_sleep,
        reraise=False,
    )
    try:
        return retrying(attempt)
    except RetryError:
        raise WaitTimeout(what, timeout, _last_state(describe), last_error, hint) from last_error


@dataclass(frozen=True)
class Condition(Generic[T]):
    """A named thing to wait for: `probe` and `describe` as `wait_for` takes them."""

    what: str
    probe: Callable[[], T | None]
    describe: Callable[[], str]
    hint: str | None = None
    interval: float = 0.5  # the poll, when `wait` is given none

    def wait(
        self,
        timeout: float,
        *,
        interval: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> T:
        return wait_for(
            self.probe,
            what=self.what,
            timeout=timeout,
            interval=self.interval if interval is None else interval,
            describe=self.describe,
            progress=progress,
            hint=self.hint,
        )


class Seen:
    """The last object a probe read (or the reason it read none), for describe()."""

    def __init__(self) -> None:
        self.obj: Any = None
        self.note = "not read yet"

    def read(self, reader: Callable[[], Any]) -> Any:
        """`reader()`, or None when the object does not exist (404)."""
        try:
            self.obj = reader()
        except ApiException as exc:
            if exc.status == 404:
                self.obj, self.note = None, "does not exist"
                return None
            raise
        return self.obj


def conditions_text(obj: Any) -> str:
    """An object's status conditions in one line: `Ready=True, Available=False (Why)`."""
    conds = getattr(obj.status, "conditions", None) or []
    return ", ".join(f"{c.type}={c.status}" + (f" ({c.reason})" if c.reason else "") for c in conds)
