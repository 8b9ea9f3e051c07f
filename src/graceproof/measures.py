"""What users felt, beyond counts: latency inside and outside the termination windows,
seconds without any successful request, and the dip in successful throughput.

- Latency: the duration of every request, failed ones included (a request that
  hangs until its timeout is felt as that timeout), as p50, p95, p99 and max.
- Unavailability: the load's successful completions in time order; a gap between two
  consecutive ones longer than `gap_threshold` (ten mean intervals of the steady
  state before the first window, at least 0.1 s) is time in which nobody was served.
  Its seconds are summed overall and, for the part of a gap inside a pod's window,
  per pod.
- Throughput dip: successful requests per second inside the windows against the
  steady state before the first one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from graceproof.model import RequestRecord, TerminationWindow
from graceproof.windows import in_any_window

__all__ = ["Latency", "Measures", "latency_of", "measure"]

MIN_GAP_S = 0.1
GAP_INTERVALS = 10.0


@dataclass(frozen=True)
class Latency:
    """Percentiles of request durations, in seconds (nearest-rank)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Latency:
        return cls(int(d["count"]), *(float(d[k]) for k in ("p50", "p95", "p99", "max")))


def _rank(ordered: Sequence[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_of(durations: Sequence[float]) -> Latency | None:
    """Nearest-rank percentiles of `durations`; None for none."""
    if not durations:
        return None
    ordered = sorted(durations)
    return Latency(len(ordered), _rank(ordered, 0.5), _rank(ordered, 0.95),
                   _rank(ordered, 0.99), ordered[-1])  # fmt: skip


@dataclass(frozen=True)
class Measures:
    latency_in_windows: Latency | None
    latency_outside: Latency | None
    unavailable_s: float  # overall seconds with no successful request
    longest_gap_s: float
    unavailable_per_pod: dict[str, float] = field(default_factory=dict)  # within its window
    steady_ok_rps: float = 0.0  # successful requests/s before the first window
    window_ok_rps: float = 0.0  # successful requests/s inside the windows
    gap_threshold_s: float = MIN_GAP_S

    @property
    def dip(self) -> float | None:
        """1 - window_ok_rps / steady_ok_rps: 0.3 is a 30 % drop (None without a base)."""
        if self.steady_ok_rps <= 0:
            return None
        return 1.0 - self.window_ok_rps / self.steady_ok_rps

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("latency_in_windows", "latency_outside"):
            value = getattr(self, k)
            d[k] = None if value is None else value.to_dict()
        d["dip"] = self.dip
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measures:
        def lat(key: str) -> Latency | None:
            value = d.get(key)
            return None if value is None else Latency.from_dict(value)

        return cls(
            latency_in_windows=lat("latency_in_windows"),
            latency_outside=lat("latency_outside"),
            unavailable_s=float(d["unavailable_s"]),
            longest_gap_s=float(d["longest_gap_s"]),
            unavailable_per_pod={str(k): float(v) for k, v in d["unavailable_per_pod"].items()},
            steady_ok_rps=float(d.get("steady_ok_rps", 0.0)),
            window_ok_rps=float(d.get("window_ok_rps", 0.0)),
            gap_threshold_s=float(d.get("gap_threshold_s", MIN_GAP_S)),
        )


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _window_seconds(windows: Sequence[TerminationWindow], lo: float, hi: float) -> float:
    """Length of the union of the windows, clipped to [lo, hi]."""
    spans = sorted((max(w.start, lo), min(w.end, hi)) for w in windows if w.end > lo)
    total, cur_start, cur_end = 0.0, None, None
    for s, e in spans:
        if e <= s:
            continue
        if cur_end is None or s > cur_end:
            if cur_start is not None and cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    if cur_start is not None and cur_end is not None:
        total += cur_end - cur_start
    return total


def _rates(
    done: Sequence[float], windows: Sequence[TerminationWindow], first_t: float
) -> tuple[float, float]:
    """Successful completions per second before the first window and inside windows."""
    if not windows:
        span = (done[-1] - first_t) if done else 0.0
        return (len(done) / span if span > 0 else 0.0), 0.0
    first = min(w.start for w in windows)
    before = [t for t in done if t < first]
    steady = len(before) / (first - first_t) if first > first_t else 0.0
    last = max(done, default=first)
    inside_s = _window_seconds(windows, first, last)
    inside = sum(1 for t in done if any(w.start <= t <= w.end for w in windows))
    return steady, (inside / inside_s if inside_s > 0 else 0.0)


def measure(records: Sequence[RequestRecord], windows: Sequence[TerminationWindow]) -> Measures:
    """Latency, unavailability and throughput dip of one run. Late arrivals (never
    sent) have no latency; they count in unavailability only by not succeeding."""
    sent = [r for r in records if not r.late]
    inside = [r.duration for r in sent if in_any_window(r, windows)]
    outside = [r.duration for r in sent if not in_any_window(r, windows)]
    done = sorted(r.t + r.duration for r in records if r.ok)
    first_t = min((r.t for r in records), default=0.0)
    steady, in_rate = _rates(done, windows, first_t)
    threshold = max(MIN_GAP_S, GAP_INTERVALS / steady) if steady > 0 else 1.0
    unavailable = longest = 0.0
    per_pod: dict[str, float] = {w.pod: 0.0 for w in windows}
    last_end = max((r.t + r.duration for r in records), default=first_t)
    # From the load's first request to its last answer: a tail without success counts.
    points = [first_t, *done, last_end]
    for a, b in itertools.pairwise(points):
        gap = b - a
        if gap <= threshold:
            continue
        unavailable += gap
        longest = max(longest, gap)
        for w in windows:
            per_pod[w.pod] += _overlap(a, b, w.start, w.end)
    return Measures(
        latency_in_windows=latency_of(inside),
        latency_outside=latency_of(outside),
        unavailable_s=unavailable,
        longest_gap_s=longest,
        unavailable_per_pod=per_pod,
        steady_ok_rps=steady,
        window_ok_rps=in_rate,
        gap_threshold_s=threshold,
    )
