"""Where does a suite's time go? Read the result JSON of one or two report folders
and print, per phase and per group of proofs, the seconds spent, and the ratio of each
proof's wall time to the sum of its phases (median, max) where results record it.

    .venv/bin/python benchmarks/phases.py reports/                # one run
    .venv/bin/python benchmarks/phases.py before/ after/          # side by side
    .venv/bin/python benchmarks/phases.py --by disruption reports/

Results do not record the test module that made them; `--by` groups by what they do
record: the workload variant (default: the scenario id's first part), the disruption,
the connection, or the whole scenario id. Only warmup, disruption, terminations and
settle measure anything; the rest of a proof's wall time is what a faster suite cuts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graceproof.result import ScenarioResult, load_results

PHASES = (
    "deploy",
    "load_start",
    "warmup",
    "disruption",
    "terminations",
    "settle",
    "load_stop",
    "verdict",
)
MEASURED = ("warmup", "disruption", "terminations", "settle")
GROUPS: dict[str, Callable[[ScenarioResult], str]] = {
    "variant": lambda r: r.variant,
    "disruption": lambda r: r.disruption.kind,
    "connection": lambda r: r.connection,
    "scenario": lambda r: r.scenario_id,
}


@dataclass
class Summary:
    """The time of one folder's proofs: seconds per phase and per group, the ratios."""

    proofs: int = 0
    phases: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    groups: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ratios: list[float] = field(default_factory=list)  # wall / sum of phases


def _phases_sum(r: ScenarioResult) -> float:
    return sum(r.phases.values())


def summarize(results: Sequence[ScenarioResult], by: str = "variant") -> Summary:
    """Each proof's phases (0 for one it does not record), its measured part, its
    namespace and the rest of its wall time, and its seconds in its group (its wall
    time where recorded, else the sum of its phases)."""
    s = Summary(proofs=len(results))
    group_of = GROUPS[by]
    for r in results:
        total = _phases_sum(r)
        names = [*PHASES, *(k for k in r.phases if k not in PHASES)]
        for phase in names:
            s.phases[phase].append(r.phases.get(phase, 0.0))
        s.phases["(measured)"].append(sum(r.phases.get(k, 0.0) for k in MEASURED))
        s.phases["(sum of phases)"].append(total)
        if r.wall_s is not None:
            s.phases["(namespace)"].append(r.namespace_s or 0.0)
            s.phases["(other)"].append(max(0.0, r.wall_s - (r.namespace_s or 0.0) - total))
            s.phases["(wall)"].append(r.wall_s)
            if total > 0:
                s.ratios.append(r.wall_s / total)
        s.groups[group_of(r)].append(r.wall_s if r.wall_s is not None else total)
    return s


def _cell(values: Sequence[float] | None, width: int = 26) -> str:
    if not values:
        return f"{'-':>{width}}"
    text = f"{statistics.median(values):6.2f} s {sum(values):8.1f} s  n={len(values)}"
    return f"{text:>{width}}"


def _ratio(values: Sequence[float], width: int = 26) -> str:
    if not values:
        return f"{'not recorded':>{width}}"
    text = f"{statistics.median(values):.2f} / {max(values):.2f}"
    return f"{text:>{width}}"


def render(summaries: Sequence[tuple[str, Summary]], by: str = "variant") -> str:
    """One table per phase and one per group, a column per folder (median per proof,
    total, count), then the ratio of wall time to the sum of phases (median / max)."""
    head = "".join(f"{label[-26:]:>26}" for label, _ in summaries)
    phases: list[str] = []
    for _, s in summaries:
        phases += [p for p in s.phases if p not in phases]
    groups = sorted({g for _, s in summaries for g in s.groups})
    w = max(22, *(len(name) + 1 for name in [*phases, *groups]))
    lines = ["proofs: " + ", ".join(f"{label}: {s.proofs}" for label, s in summaries)]
    lines += ["", f"{'phase (median, total)':{w}s}{head}"]
    for phase in phases:
        lines.append(f"{phase:{w}s}" + "".join(_cell(s.phases.get(phase)) for _, s in summaries))
    lines += ["", f"{f'{by} (median, total)':{w}s}{head}"]
    for group in groups:
        cells = "".join(_cell(s.groups.get(group)) for _, s in summaries)
        lines.append(f"{group:{w}s}{cells}")
    lines += [
        "",
        f"{'wall / phases':{w}s}" + "".join(_ratio(s.ratios) for _, s in summaries),
        "(median / max over the proofs that record their wall time)",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="one folder, or before and after")
    p.add_argument("--by", choices=sorted(GROUPS), default="variant")
    args = p.parse_args(argv)
    if len(args.folders) > 2:
        p.error("one folder, or two (before and after)")
    summaries = []
    for folder in args.folders:
        results = load_results(folder)
        if not results:
            print(f"phases.py: no graceproof results in {folder}", file=sys.stderr)
            return 2
        summaries.append((str(folder), summarize(results, args.by)))
    print(render(summaries, args.by))
    return 0


if __name__ == "__main__":
    sys.exit(main())
