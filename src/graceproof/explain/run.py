"""Run an explanation: the workload as written and each variant K times, then the
pairs of protections that may cover each other; the table from what was measured.

    plan_explanation -> stages (ablation, pairs) -> runs -> Explanation (rows)

Each stage looks at what was measured so far and says which variants to run next,
and is asked again after they ran until it has none (the sleep search,
graceproof.explain.sleep_search, runs one candidate at a time); the runs of every
stage go through the same `run` (the CLI's: a namespace per run and the result written
at once; pytest's: the `explain` fixture's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.explain.grace_need import GraceNeeded, grace_needed
from graceproof.explain.plan import Entry, ExplainPlan, Variant, duration
from graceproof.explain.sleep_search import SleepFound, next_sleep, sleep_found
from graceproof.explain.table import (
    ALPHA,
    COVER,
    KEEPS,
    MISSING,
    NO_EFFECT,
    NOT_APPLICABLE,
    NOT_RUN,
    Row,
    Tally,
    compare,
)
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario

__all__ = ["Explanation", "Run", "run_plan"]

log = logging.getLogger(__name__)

Run = Callable[[Scenario], ScenarioResult]
# The results of each variant so far, by the protections it removed (() the original).
Measured = dict[tuple[str, ...], list[ScenarioResult]]


@dataclass(frozen=True)
class Explanation:
    """What an explanation found: the original's tally and one row per protection (and
    per pair run), with every result it made."""

    plan: ExplainPlan
    original: Tally
    rows: tuple[Row, ...]
    results: tuple[ScenarioResult, ...]
    elapsed_s: float
    notes: tuple[str, ...] = ()
    # The shortest preStop sleep that held, or why it was not searched.
    sleep: SleepFound | str | None = None
    # The least grace period the runs as written needed, or why it cannot be read.
    grace: GraceNeeded | str | None = None

    def row(self, protection: str) -> Row:
        """The row of a protection (or `a+b` for a pair); KeyError naming the rows."""
        for r in self.rows:
            if r.protection == protection:
                return r
        raise KeyError(f"no row {protection!r}; rows: {', '.join(r.protection for r in self.rows)}")

    def header(self) -> str:
        p = self.plan
        return (
            f"explain: {p.ref} under {p.scenario.disruption.kind}, {p.runs} run(s) of each "
            f"variant, {len(self.results)} runs in {duration(self.elapsed_s)}"
        )

    def lines(self) -> list[str]:
        """The table as text lines, for the CLI."""
        lines = [
            self.header(),
            f"as written: {self.original.describe()}",
            "protection | removed -> failures in windows (95% interval) | p | verdict",
        ]
        lines += [" | ".join(r.cells()) for r in self.rows]
        lines += self._sleep_lines()
        return lines + [f"note: {n}" for n in (*self.plan.notes, *self.notes)]

    @property
    def sleep_picture(self) -> str | None:
        """The file name of the sleep search's picture (graceproof.report draws it),
        unique as its first result's name is; None without a search."""
        if not isinstance(self.sleep, SleepFound) or not self.results:
            return None
        return f"{self.results[0].file_stem}.sleep-search.png"

    def _sleep_lines(self) -> list[str]:
        """The sleep search's finding and the grace the runs needed, in words."""
        return [
            found if isinstance(found, str) else found.describe()
            for found in (self.sleep, self.grace)
            if found is not None
        ]

    def markdown(self) -> str:
        """The table for summary.md, above the table of the runs."""
        lines = [
            "## Which settings keep the requests",
            "",
            f"{self.header()}. As written: {self.original.describe()}.",
            "",
            "| protection | removed -> failures in windows (95% interval) | p | verdict |",
            "|---|---|---:|---|",
        ]
        for r in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |")
        lines += [""] + [f"- {n}" for n in (*self._sleep_lines(), *self.plan.notes, *self.notes)]
        if self.sleep_picture:
            lines += ["", f"![the sleep search]({self.sleep_picture})"]
        lines += [
            "",
            f"p: one-sided Fisher exact test that the workload as written fails less often "
            f"than with the protection removed, over all requests of the runs; "
            f'"{KEEPS}" when p < 0.05. Every run below is informative: the table judges.',
            "",
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        p = self.plan
        return {
            "schema": "graceproof.explain/v1",
            "workload": p.ref,
            "disruption": p.scenario.disruption.kind,
            "connection": p.scenario.load.connection,
            "runs": p.runs,
            "original": self.original.to_dict(),
            "rows": [r.to_dict() for r in self.rows],
            "notes": [*p.notes, *self.notes],
            "results": [r.file_stem for r in self.results],
            "sleep_picture": self.sleep_picture,
            "sleep_search": _finding(self.sleep),
            "grace": _finding(self.grace),
            "elapsed_s": round(self.elapsed_s, 1),
        }


def _finding(found: SleepFound | GraceNeeded | str | None) -> dict[str, Any] | None:
    """A finding as JSON: its figures, or why there is none (`{"note": ...}`)."""
    if found is None:
        return None
    return {"note": found} if isinstance(found, str) else found.to_dict()


def _ablation(plan: ExplainPlan, measured: Measured) -> list[Variant]:
    return list(plan.variants)


def _pairs(plan: ExplainPlan, measured: Measured) -> list[Variant]:
    """Both of two protections removed, where removing either alone changed nothing
    measurable: they may cover each other."""
    original = Tally.of(measured[()])
    quiet = [
        e
        for e in plan.measured
        if compare(Tally.of(measured[(e.protection.name,)]), original) >= ALPHA
    ]
    return [plan.pair(a, b) for i, a in enumerate(quiet) for b in quiet[i + 1 :]]


STAGES: tuple[tuple[str, Callable[[ExplainPlan, Measured], list[Variant]]], ...] = (
    ("ablation", _ablation),
    ("pairs", _pairs),
    ("sleep search", next_sleep),
)


def run_plan(
    plan: ExplainPlan,
    run: Run,
    *,
    time_budget_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Explanation:
    """Run every stage of `plan` through `run`, each variant `plan.runs` times, in turn
    (original, a, b, original, a, b, ...: a drift of the cluster over the runs falls
    on every variant alike). A later stage that would overrun `time_budget_s`, at the
    time it would start (`clock`), is skipped and named."""
    started = clock()
    measured: Measured = {}
    titles: dict[tuple[str, ...], Variant] = {}
    results: list[ScenarioResult] = []
    notes: list[str] = []
    done = 0
    for stage, variants_of in STAGES:
        while variants := [v for v in variants_of(plan, measured) if v.removed not in measured]:
            count = len(variants) * plan.runs
            needed = count * plan.per_run_s
            spent = clock() - started
            over = time_budget_s is not None and spent + needed > time_budget_s
            if stage != "ablation" and over and time_budget_s is not None:
                notes.append(
                    f"{stage}: {count} runs (about {duration(needed)}) skipped: the time "
                    f"budget ({duration(time_budget_s)}) has "
                    f"{duration(max(0.0, time_budget_s - spent))} left"
                )
                for v in variants:
                    titles[v.removed] = v
                break
            log.info("explain: %s: %d runs, about %s", stage, count, duration(needed))
            total = done + count
            for i in range(plan.runs):
                for v in variants:
                    done += 1
                    log.info(
                        "explain: run %d of %d (%s, round %d of %d, about %s left): %s",
                        done,
                        total,
                        stage,
                        i + 1,
                        plan.runs,
                        duration((total - done + 1) * plan.per_run_s),
                        v.title + (f" ({v.change})" if v.change else ""),
                    )
                    result = run(v.scenario)
                    results.append(result)
                    measured.setdefault(v.removed, []).append(result)
                    titles[v.removed] = v
            log.info("explain: %s done after %s", stage, duration(clock() - started))
    original = Tally.of(measured[()])
    rows = table_rows(plan, measured, titles, original)
    return Explanation(
        plan=plan,
        original=original,
        rows=tuple(rows),
        results=tuple(results),
        elapsed_s=clock() - started,
        notes=tuple(notes),
        sleep=sleep_found(plan, measured),
        grace=grace_needed(plan, measured),
    )


def table_rows(
    plan: ExplainPlan,
    measured: Measured,
    variants: dict[tuple[str, ...], Variant],
    original: Tally,
) -> list[Row]:
    """One row per protection, then one per pair planned (run or skipped)."""
    rows = [_single(e, measured, variants, original) for e in plan.entries]
    for removed, v in variants.items():
        if len(removed) < 2:
            continue
        name = "+".join(removed)
        results = measured.get(removed)
        if results is None:
            rows.append(Row(name, v.title, NOT_RUN, note="skipped for the time budget"))
            continue
        row = Row.measured(name, v.title, "", Tally.of(results), original)
        if row.verdict == KEEPS:
            note = "removing either alone changes nothing measurable, removing both loses requests"
            rows.append(Row(name, v.title, COVER, note=note, removed=row.removed, p=row.p))
        else:
            note = "removing both changes nothing measurable either"
            rows.append(Row(name, v.title, NO_EFFECT, note=note, removed=row.removed, p=row.p))
    return rows


def _single(
    e: Entry, measured: Measured, variants: dict[tuple[str, ...], Variant], original: Tally
) -> Row:
    p = e.protection
    if not e.present:
        if not e.note.startswith("missing: "):
            return Row(p.name, p.title, NOT_RUN, note=e.note)
        shown = "" if e.applies else f" ({p.exercised()} would show it)"
        return Row(p.name, p.title, MISSING, note=e.note.removeprefix("missing: ") + shown)
    if not e.applies:
        return Row(p.name, p.title, NOT_APPLICABLE, note=f"{p.exercised()} would exercise it")
    results: Sequence[ScenarioResult] = measured[(p.name,)]
    change = variants[(p.name,)].change
    return Row.measured(p.name, p.title, change, Tally.of(results), original)
