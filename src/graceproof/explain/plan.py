"""What an explanation will run, found from the manifests before anything is deployed:
for each protection whether the workload has it and whether the disruption exercises
it; the variants (the workload as written, then one per protection removed); how many
runs and about how long. Bad input is refused here, before any cluster call: fewer
than one run, a disruption under which no protection the workload has applies, a
time budget the plan cannot fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from graceproof.errors import OptionError
from graceproof.explain.protections import PROTECTIONS, Protection
from graceproof.explain.protections.grace import hook_length
from graceproof.explain.protections.prestop import PreStopHook, own_sleep
from graceproof.explain.variant import Ablated, ablated, manifests_of, rewrapped, without
from graceproof.scenario import Scenario
from graceproof.workloads.manifests import ManifestWorkload

__all__ = [
    "Entry",
    "ExplainPlan",
    "Variant",
    "duration",
    "plan_explanation",
    "seconds_per_run",
    "variant_of",
]

# One proof's time on the 2-core CI machine, from the phases of its results and the
# namespace around it: about 18 s whatever the workload (namespace made and deleted,
# deploy, load start, 3 s warmup, 2 s settle, load stop), 1.5 s per replica replaced,
# and the hook of the last pod to go. examples/nginx (3 replicas, 5 s hook): ~25 s.
FIXED_S = 18.0
PER_REPLICA_S = 1.5


@dataclass(frozen=True)
class Entry:
    """A protection as this workload and disruption have it."""

    protection: Protection
    present: bool
    applies: bool
    note: str  # why it is not run, when it is not


@dataclass(frozen=True)
class Variant:
    """One workload to run K times: the original (`removed` empty) or a derived one."""

    removed: tuple[str, ...]
    title: str
    change: str
    scenario: Scenario


def seconds_per_run(workload: ManifestWorkload) -> float:
    """About how long one proof of `workload` takes (FIXED_S, PER_REPLICA_S)."""
    r = workload.resolved
    return FIXED_S + PER_REPLICA_S * r.min_replicas() + (hook_length(r) or 0.0)


def duration(seconds: float) -> str:
    """`4 min 10 s`, `40 s`."""
    s = round(seconds)
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


@dataclass(frozen=True)
class ExplainPlan:
    scenario: Scenario  # the workload as written, under the disruption and load
    runs: int  # K: runs of each variant
    entries: tuple[Entry, ...]
    variants: tuple[Variant, ...]  # the original first
    per_run_s: float
    notes: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return manifests_of(self.scenario.workload).resolved.workload.ref

    @property
    def measured(self) -> tuple[Entry, ...]:
        """The protections removed one at a time: present, and exercised."""
        return tuple(e for e in self.entries if e.present and e.applies)

    @property
    def possible_pairs(self) -> int:
        """Pairs run at most (when neither of two protections alone changes anything)."""
        n = len(self.measured)
        return n * (n - 1) // 2

    @property
    def total_runs(self) -> int:
        return len(self.variants) * self.runs

    @property
    def estimate_s(self) -> float:
        return self.total_runs * self.per_run_s

    @property
    def sleep_candidates(self) -> int:
        """Sleeps the search (graceproof.explain.sleep_search) tries at most: the
        proposal, then halves of what is left between 0 and the hook's own sleep; 0
        when it will not search (the hook not taken away, or its length unknown)."""
        if not any(v.removed == (PreStopHook.name,) for v in self.variants):
            return 0
        own = own_sleep(manifests_of(self.scenario.workload).resolved)
        return 0 if own is None or own < 2 else math.ceil(math.log2(own)) + 1

    def pair(self, a: Entry, b: Entry) -> Variant:
        """The workload with both `a` and `b` removed."""
        m = manifests_of(self.scenario.workload)
        first = without(m, a.protection)
        both = without(first, b.protection)
        return variant_of(
            self.scenario,
            both,
            f"{a.protection.title} + {b.protection.title}",
            "; ".join(both.changes),
        )

    def lines(self) -> list[str]:
        """The plan, said before it starts: what runs, how many times, how long."""
        d = self.scenario.disruption.kind
        lines = [f"explain: {self.ref} under {d}, {self.runs} run(s) of each variant"]
        for v in self.variants:
            lines.append(f"  variant: {v.title}{f' ({v.change})' if v.change else ''}")
        for e in self.entries:
            if not (e.present and e.applies):
                lines.append(f"  {e.protection.title}: {e.note}")
        lines += [f"  {n}" for n in self.notes]
        pairs = self.possible_pairs
        extra = (
            f", and up to {pairs * self.runs} more runs (about "
            f"{duration(pairs * self.runs * self.per_run_s)}) if protections cover each other"
            if pairs
            else ""
        )
        search = self.sleep_candidates * self.runs
        if search:
            extra += (
                f", then up to {search} runs (about {duration(search * self.per_run_s)}) to "
                "find the shortest preStop sleep that holds, if the hook keeps requests"
            )
        lines.append(
            f"plan: {self.total_runs} runs of about {duration(self.per_run_s)} each, about "
            f"{duration(self.estimate_s)}{extra}"
        )
        return lines


def variant_of(scenario: Scenario, workload: Ablated, title: str, change: str) -> Variant:
    # expected None: the variant's own expectation (informative), not the caller's.
    derived = replace(
        scenario, workload=rewrapped(scenario.workload, workload), expected=None, budget=None
    )
    return Variant(workload.removed, title, change, derived)


def _entry(p: Protection, m: ManifestWorkload, scenario: Scenario) -> Entry:
    present = p.present(m.resolved)
    applies = p.applies(scenario.disruption)
    if not present:
        note = p.absent(m.resolved)
    elif not applies:
        note = f"not applicable to {scenario.disruption.kind}: {p.exercised()} would exercise it"
    else:
        note = ""
    return Entry(p, present, applies, note)


def plan_explanation(
    scenario: Scenario,
    *,
    runs: int = 3,
    protections: Sequence[Protection] = PROTECTIONS,
    time_budget_s: float | None = None,
    per_run_s: float | None = None,
) -> ExplainPlan:
    """The plan of explaining `scenario`'s workload (a team's manifests, also through an
    ingress controller) with `runs` runs of each variant; OptionError for bad input."""
    if runs < 1:
        raise OptionError(f"--runs must be 1 or more (runs of each variant), not {runs}")
    if time_budget_s is not None and not (math.isfinite(time_budget_s) and time_budget_s > 0):
        raise OptionError(f"--time-budget must be a number of seconds above 0, not {time_budget_s}")
    m = manifests_of(scenario.workload)
    entries = tuple(_entry(p, m, scenario) for p in protections)
    original = variant_of(scenario, ablated(m), "as written", "")
    variants = [original]
    for e in entries:
        if e.present and e.applies:
            v = without(m, e.protection)
            variants.append(variant_of(scenario, v, e.protection.title, v.changes[-1]))
    notes: list[str] = []
    kind = scenario.disruption.kind
    present = [e for e in entries if e.present]
    if not present:
        notes.append(
            f"{m.resolved.workload.ref} carries none of the protections explain knows "
            f"({', '.join(p.title for p in protections)}): only the workload as written runs"
        )
    elif len(variants) == 1:
        exercised = "; ".join(f"{e.protection.title}: {e.protection.exercised()}" for e in present)
        raise OptionError(
            f"--disruption {kind}: none of the protections {m.resolved.workload.ref} has "
            f"applies to it. Choose a disruption that exercises them ({exercised})"
        )
    plan = ExplainPlan(
        scenario=scenario,
        runs=runs,
        entries=entries,
        variants=tuple(variants),
        per_run_s=per_run_s if per_run_s is not None else seconds_per_run(m),
        notes=tuple(notes),
    )
    if time_budget_s is not None and plan.estimate_s > time_budget_s:
        raise OptionError(
            f"--time-budget {time_budget_s:g} s is too short: the plan needs about "
            f"{duration(plan.estimate_s)} ({plan.total_runs} runs of about "
            f"{duration(plan.per_run_s)}); give --time-budget {math.ceil(plan.estimate_s)} or "
            "more, or fewer --runs or --protection"
        )
    return plan
