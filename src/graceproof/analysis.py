"""Which requests fell into the termination of a pod, and how many of them failed.

The termination window of a pod is where the race between endpoint removal and
process shutdown can hurt a client:

  start: the pod's `pod_deleted` event (deletionTimestamp set; endpoint removal and
         the preStop hook / SIGTERM begin together from here);
  end:   the first sign, after the deletion, that the pod's process is gone:
         `app_exit` (the app's own log), `container_terminated` or `pod_gone`;
         plus `tail_s` (default 3 s). The tail is there because the typical
         negative-control failure happens *after* the process exited: kube-proxy
         still routes new connections to the dead pod for ~1-3 s, and those are
         refused. Without the tail those errors would fall outside every window.

A pod that was deleted but has no end event in the timeline keeps its window open
until `until` (the end of the load), or its last event.

A request is inside a window when its span [t, t + duration] overlaps it, so a
request cut mid-flight by the exit counts even though it started earlier.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graceproof.failures import DIRECT_GET, FailureContext, failure_class
from graceproof.model import RequestRecord, TerminationWindow, TimelineEvent

END_KINDS = ("app_exit", "container_terminated", "pod_gone")
DEFAULT_TAIL_S = 3.0
# Quarter seconds: fine enough that failures line up with the deletion markers.
DEFAULT_BIN_S = 0.25


def termination_windows(
    events: Iterable[TimelineEvent],
    *,
    tail_s: float = DEFAULT_TAIL_S,
    until: float | None = None,
) -> list[TerminationWindow]:
    """One window per deleted pod, from its deletion to its process exit plus tail_s."""
    ordered = sorted(events, key=lambda e: e.t)
    deleted: dict[str, float] = {}
    ended: dict[str, float] = {}
    last_seen: dict[str, float] = {}
    for event in ordered:
        if event.pod is None:
            continue
        last_seen[event.pod] = event.t
        if event.kind == "pod_deleted" and event.pod not in deleted:
            deleted[event.pod] = event.t
        elif (
            event.kind in END_KINDS
            and event.pod in deleted
            and event.pod not in ended
            and event.t >= deleted[event.pod]
        ):
            ended[event.pod] = event.t
    windows = []
    for pod, start in deleted.items():
        if pod in ended:
            end = ended[pod] + tail_s
        else:
            end = max(start, until if until is not None else last_seen[pod])
        windows.append(TerminationWindow(pod=pod, start=start, end=end))
    return sorted(windows, key=lambda w: (w.start, w.pod))


def in_any_window(record: RequestRecord, windows: Sequence[TerminationWindow]) -> bool:
    end = record.t + max(record.duration, 0.0)
    return any(record.t <= w.end and end >= w.start for w in windows)


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


@dataclass(frozen=True)
class Series:
    """Requests per time bin, by completion time (t + duration), from t0 on."""

    t0: float
    bin_s: float
    ok: list[int]
    failed: list[int]

    def times(self) -> list[float]:
        """The start of each bin, in seconds since t0."""
        return [i * self.bin_s for i in range(len(self.ok))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "t0": self.t0,
            "bin_s": self.bin_s,
            "ok": list(self.ok),
            "failed": list(self.failed),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Series:
        return cls(
            t0=float(d["t0"]),
            bin_s=float(d["bin_s"]),
            ok=[int(x) for x in d["ok"]],
            failed=[int(x) for x in d["failed"]],
        )


def per_second(
    records: Sequence[RequestRecord], *, t0: float | None = None, bin_s: float = 1.0
) -> Series:
    """Ok and failed requests per bin, for the picture (divide by bin_s for a rate).

    Binned by completion time: that is when a client sees the failure, which lines
    up with the SIGTERM and exit markers of the timeline.
    """
    if bin_s <= 0:
        raise ValueError(f"bin_s must be > 0, not {bin_s}")
    if not records:
        return Series(t0=t0 or 0.0, bin_s=bin_s, ok=[], failed=[])
    start = min(r.t for r in records) if t0 is None else t0
    last = max(r.t + r.duration for r in records)
    bins = max(1, math.floor((last - start) / bin_s) + 1)
    ok = [0] * bins
    failed = [0] * bins
    for r in records:
        i = math.floor((r.t + r.duration - start) / bin_s)
        if not 0 <= i < bins or r.late:
            continue  # before t0, or never sent
        if r.ok:
            ok[i] += 1
        else:
            failed[i] += 1
    return Series(t0=start, bin_s=bin_s, ok=ok, failed=failed)
