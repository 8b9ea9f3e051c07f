"""Regression check between two runs: a scenario that was clean must stay clean.

A regression is a scenario (matched by scenario id) with zero failed requests in
the baseline and at least one in the change. Scenarios that already failed in the
baseline, or that exist in only one run, are listed as notes but do not fail.
Negative controls (verdict expected "errors") are meant to fail: they never count
as regressions; a note says when one stops failing.

Measured regressions of hooked scenarios count too, beyond a `Tolerance`: more
seconds without any successful request, or a p99 latency inside the termination
windows that grew by more than a factor (both generous by default: timing on a
shared 2-core machine varies from run to run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from graceproof.result import ScenarioResult


@dataclass(frozen=True)
class Regression:
    scenario_id: str
    baseline_total: int
    failed: int
    total: int
    error_kinds: dict[str, int]

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in self.error_kinds.items()) or "no kinds"
        return (
            f"{self.scenario_id}: 0 of {self.baseline_total} requests failed in the baseline, "
            f"{self.failed} of {self.total} in the change ({kinds})"
        )


@dataclass(frozen=True)
class Tolerance:
    """How much worse a measure may get before it is a regression (None: not checked)."""

    unavailable_s: float | None = 1.0  # added seconds without a successful request
    p99_factor: float | None = 2.0  # p99 in windows may grow to this factor...
    p99_floor_s: float = 0.05  # ...and by at least this much, so 1 ms -> 3 ms is no news


@dataclass(frozen=True)
class MeasureRegression:
    scenario_id: str
    what: str
    before: float
    after: float
    allowed: float

    def describe(self) -> str:
        return (
            f"{self.scenario_id}: {self.what} {self.before:.3f} s in the baseline, "
            f"{self.after:.3f} s in the change (allowed up to {self.allowed:.3f} s)"
        )


def measure_regressions(
    scenario_id: str, before: ScenarioResult, after: ScenarioResult, tol: Tolerance
) -> list[MeasureRegression]:
    """The measures of `after` that are worse than `before` beyond `tol`."""
    b, a = before.measures, after.measures
    if b is None or a is None:
        return []
    out = []
    if tol.unavailable_s is not None and a.unavailable_s > b.unavailable_s + tol.unavailable_s:
        allowed = b.unavailable_s + tol.unavailable_s
        out.append(
            MeasureRegression(scenario_id, "unavailable", b.unavailable_s, a.unavailable_s, allowed)
        )
    lb, la = b.latency_in_windows, a.latency_in_windows
    if tol.p99_factor is not None and lb is not None and la is not None:
        allowed = max(lb.p99 * tol.p99_factor, lb.p99 + tol.p99_floor_s)
        if la.p99 > allowed:
            out.append(
                MeasureRegression(scenario_id, "p99 latency in windows", lb.p99, la.p99, allowed)
            )
    return out


@dataclass(frozen=True)
class Comparison:
    regressions: list[Regression | MeasureRegression] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: int = 0

    @property
    def ok(self) -> bool:
        return not self.regressions

    def describe(self) -> str:
        lines = []
        if self.regressions:
            lines.append(f"{len(self.regressions)} regression(s) in {self.compared} scenario(s):")
            lines += [f"  - {r.describe()}" for r in self.regressions]
        else:
            lines.append(f"no regression in {self.compared} compared scenario(s)")
        if self.notes:
            lines.append("notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)


def _by_id(
    results: Sequence[ScenarioResult], which: str, notes: list[str]
) -> dict[str, ScenarioResult]:
    """The newest result of each scenario id. Ids name every parameter of a scenario,
    so several results of one id are reruns of the same scenario (a folder that kept
    them all): the newest counts, and a note says how many older ones were set aside."""
    by_id: dict[str, ScenarioResult] = {}
    reruns: dict[str, int] = {}
    for r in sorted(results, key=lambda r: r.finished):
        if r.scenario_id in by_id:
            reruns[r.scenario_id] = reruns.get(r.scenario_id, 0) + 1
        by_id[r.scenario_id] = r
    for scenario_id, n in sorted(reruns.items()):
        newest = by_id[scenario_id].file_stem
        notes.append(f"{scenario_id}: {n} older run(s) in the {which}; compared {newest}")
    return by_id


def compare(
    baseline: Sequence[ScenarioResult],
    change: Sequence[ScenarioResult],
    tolerance: Tolerance | None = None,
) -> Comparison:
    tol = tolerance or Tolerance()
    notes: list[str] = []
    base = _by_id(baseline, "baseline", notes)
    new = _by_id(change, "change", notes)
    regressions: list[Regression | MeasureRegression] = []
    compared = 0
    for scenario_id, before in sorted(base.items()):
        after = new.get(scenario_id)
        if after is None:
            notes.append(f"{scenario_id}: in the baseline only (not run in the change)")
            continue
        compared += 1
        if after.verdict.expected == "errors":
            if before.counts.failed > 0 and after.counts.failed == 0:
                notes.append(f"{scenario_id}: negative control no longer fails")
            continue
        if after.verdict.expected == "informative":
            continue  # held to nothing, so it cannot regress
        regressions += measure_regressions(scenario_id, before, after, tol)
        if before.counts.failed == 0 and after.counts.failed > 0:
            regressions.append(
                Regression(
                    scenario_id=scenario_id,
                    baseline_total=before.counts.total,
                    failed=after.counts.failed,
                    total=after.counts.total,
                    error_kinds=dict(after.counts.error_kinds),
                )
            )
        elif before.counts.failed > 0 and after.counts.failed == 0:
            notes.append(f"{scenario_id}: improved, {before.counts.failed} failed before, none now")
        elif before.counts.failed > 0:
            notes.append(
                f"{scenario_id}: failed in both ({before.counts.failed} -> "
                f"{after.counts.failed}); not a regression"
            )
    notes += [
        f"{scenario_id}: new in the change (no baseline)"
        for scenario_id in sorted(set(new) - set(base))
    ]
    return Comparison(regressions=regressions, notes=notes, compared=compared)
