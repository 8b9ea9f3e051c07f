"""How many requests a run sent, how many failed, and how many of each fell inside a
termination window (graceproof.windows); the failures by error kind and by class
(graceproof.failures)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graceproof.failures import DIRECT_GET, FailureContext, failure_class
from graceproof.model import RequestRecord, TerminationWindow
from graceproof.windows import in_any_window

__all__ = ["Counts", "summarize"]


@dataclass(frozen=True)
class Counts:
    """Request counts of one scenario, overall and inside termination windows."""

    total: int
    failed: int
    in_windows: int
    failed_in_windows: int
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_kinds_in_windows: dict[str, int] = field(default_factory=dict)
    pods: dict[str, int] = field(default_factory=dict)  # answers per pod (X-Pod-Name)
    windows: int = 0  # termination windows
    windows_covered: int = 0  # of them, those at least one request overlapped
    # Open-loop arrivals the generator could not send on time (error "late"). They
    # are not requests: no pod saw them, so they are neither in `total` nor failures;
    # counted apart, as a hole in the measurement rather than a verdict on the pods.
    late: int = 0
    late_in_windows: int = 0
    # The failures by where they failed (graceproof.failures): the counts of each class.
    classes: dict[str, int] = field(default_factory=dict)
    classes_in_windows: dict[str, int] = field(default_factory=dict)
    # Retryable failures counted as answered, as a client that retries idempotent
    # requests sees them (summarize(..., retried=True)); 0 when they count as failures.
    retried: int = 0
    retried_in_windows: int = 0

    @property
    def ok(self) -> int:
        return self.total - self.failed

    @property
    def retryable(self) -> int:
        return self.classes.get("retryable", 0)

    @property
    def retryable_in_windows(self) -> int:
        return self.classes_in_windows.get("retryable", 0)

    def describe_classes(self) -> str:
        """`cut 3, stale_endpoint 40`: the failures by class, most first."""
        return ", ".join(f"{k} {v}" for k, v in self.classes.items())

    def describe_failures(self) -> str:
        """The failures by error kind and, where recorded, by class: `connection_refused
        40, timeout 2; stale_endpoint 42` (the verdict's and the headline's words)."""
        kinds = ", ".join(f"{k} {v}" for k, v in self.error_kinds.items())
        return f"{kinds}; {self.describe_classes()}" if self.classes else kinds

    @property
    def failed_outside_windows(self) -> int:
        return self.failed - self.failed_in_windows

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "failed": self.failed,
            "in_windows": self.in_windows,
            "failed_in_windows": self.failed_in_windows,
            "error_kinds": dict(self.error_kinds),
            "error_kinds_in_windows": dict(self.error_kinds_in_windows),
            "pods": dict(self.pods),
            "windows": self.windows,
            "windows_covered": self.windows_covered,
            "late": self.late,
            "late_in_windows": self.late_in_windows,
            "classes": dict(self.classes),
            "classes_in_windows": dict(self.classes_in_windows),
            "retried": self.retried,
            "retried_in_windows": self.retried_in_windows,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counts:
        return cls(
            total=int(d["total"]),
            failed=int(d["failed"]),
            in_windows=int(d["in_windows"]),
            failed_in_windows=int(d["failed_in_windows"]),
            error_kinds={str(k): int(v) for k, v in (d.get("error_kinds") or {}).items()},
            error_kinds_in_windows={
                str(k): int(v) for k, v in (d.get("error_kinds_in_windows") or {}).items()
            },
            pods={str(k): int(v) for k, v in (d.get("pods") or {}).items()},
            windows=int(d.get("windows", 0)),
            windows_covered=int(d.get("windows_covered", 0)),
            late=int(d.get("late", 0)),
            late_in_windows=int(d.get("late_in_windows", 0)),
            # Results written before the classes were recorded have none.
            classes={str(k): int(v) for k, v in (d.get("classes") or {}).items()},
            classes_in_windows={
                str(k): int(v) for k, v in (d.get("classes_in_windows") or {}).items()
            },
            retried=int(d.get("retried", 0)),
            retried_in_windows=int(d.get("retried_in_windows", 0)),
        )


def summarize(
    records: Iterable[RequestRecord],
    windows: Sequence[TerminationWindow],
    context: FailureContext = DIRECT_GET,
    *,
    retried: bool = False,
) -> Counts:
    """Count the records; `context` is what classifying the failures needs beside them.
    With `retried`, a retryable failure counts as answered (and in `retried`), as a
    client that retries idempotent requests sees it."""
    total = failed = in_windows = failed_in_windows = late = late_in_windows = 0
    retried_total = retried_in = 0
    kinds: Counter[str] = Counter()
    kinds_in: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    classes_in: Counter[str] = Counter()
    pods: Counter[str] = Counter()
    covered: set[int] = set()
    for record in records:
        inside = in_any_window(record, windows)
        if record.late:
            late += 1
            late_in_windows += inside
            continue
        total += 1
        if inside:
            end = record.t + max(record.duration, 0.0)
            covered.update(i for i, w in enumerate(windows) if record.t <= w.end and end >= w.start)
        in_windows += inside
        if record.pod:
            pods[record.pod] += 1
        if not record.ok:
            kind = record.error or "other"
            where = failure_class(record, context) or "unclassified"
            if retried and where == "retryable":
                retried_total += 1
                retried_in += inside
                continue
            failed += 1
            kinds[kind] += 1
            classes[where] += 1
            if inside:
                failed_in_windows += 1
                kinds_in[kind] += 1
                classes_in[where] += 1
    return Counts(
        total=total,
        failed=failed,
        in_windows=in_windows,
        failed_in_windows=failed_in_windows,
        error_kinds=dict(kinds.most_common()),
        error_kinds_in_windows=dict(kinds_in.most_common()),
        pods=dict(sorted(pods.items())),
        windows=len(windows),
        windows_covered=len(covered),
        late=late,
        late_in_windows=late_in_windows,
        classes=dict(classes.most_common()),
        classes_in_windows=dict(classes_in.most_common()),
        retried=retried_total,
        retried_in_windows=retried_in,
    )
