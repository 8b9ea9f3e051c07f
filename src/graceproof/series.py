"""Ok and failed requests per time bin: the bars of the picture."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.model import RequestRecord

__all__ = ["DEFAULT_BIN_S", "Series", "per_second"]

# Quarter seconds: fine enough that failures line up with the deletion markers.
DEFAULT_BIN_S = 0.25


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
