"""Budgets: what a proof may lose and still pass, beside the strict zero rule.

    Budget(max_error_rate=0.001, max_unavailable_s=0.5, max_p99_in_windows_s=0.3)

A budget left at None is not checked; with no error-rate budget, a hooked proof
keeps the strict rule (no failed request at all). The verdict names each budget that
was exceeded, by how much.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from graceproof.counts import Counts
from graceproof.errors import WorkloadSpecError
from graceproof.measures import Measures

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    max_error_rate: float | None = None  # failed / total, e.g. 0.001 for 0.1 %
    max_unavailable_s: float | None = None  # seconds with no successful request
    max_p99_in_windows_s: float | None = None  # p99 latency inside the windows

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise WorkloadSpecError(f"budget {name} must be a number >= 0, not {value}")
        if self.max_error_rate is not None and self.max_error_rate > 1:
            raise WorkloadSpecError(
                f"budget max_error_rate is a fraction (0.001 = 0.1 %), not {self.max_error_rate}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Budget:
        return cls(**{k: (None if v is None else float(v)) for k, v in d.items()})

    def describe(self) -> str:
        parts = []
        if self.max_error_rate is not None:
            parts.append(f"error rate <= {self.max_error_rate:.4%}")
        if self.max_unavailable_s is not None:
            parts.append(f"unavailable <= {self.max_unavailable_s:g} s")
        if self.max_p99_in_windows_s is not None:
            parts.append(f"p99 in windows <= {self.max_p99_in_windows_s:g} s")
        return ", ".join(parts) or "none"

    def breaches(self, counts: Counts, measures: Measures | None) -> list[str]:
        """Each exceeded budget, with the measured value and the excess."""
        out = []
        rate = counts.failed / counts.total if counts.total else 0.0
        if self.max_error_rate is not None and rate > self.max_error_rate:
            out.append(
                f"error rate {rate:.4%} ({counts.failed} of {counts.total}) exceeds the budget "
                f"{self.max_error_rate:.4%} by {rate - self.max_error_rate:.4%}"
            )
        if measures is None:
            return out
        down, max_down = measures.unavailable_s, self.max_unavailable_s
        if max_down is not None and down > max_down:
            out.append(
                f"unavailable {down:.2f} s exceeds the budget {max_down:g} s by "
                f"{down - max_down:.2f} s"
            )
        p99 = measures.latency_in_windows.p99 if measures.latency_in_windows else None
        max_p99 = self.max_p99_in_windows_s
        if max_p99 is not None and p99 is not None and p99 > max_p99:
            out.append(
                f"p99 latency in windows {p99:.3f} s exceeds the budget {max_p99:g} s by "
                f"{p99 - max_p99:.3f} s"
            )
        return out
