"""How often does each verdict come out right, per scenario family, over every result
graceproof wrote? Reads result JSON files (recursively) from the folders given, e.g.
the report folders of many `make test`/`make e2e`/`.ci/run` runs, and prints per family
(disruption, traffic kind, path, load placement):

- negative controls (expected `errors`): runs, detected (the control failed as it must),
  and the one-sided 95 % lower bound (Clopper-Pearson) of the detection rate;
- the attempts behind them: a control that reproduced nothing is attempted again
  (graceproof.controls), and each such attempt is kept as an informative result; they
  are counted here as runs that did not detect, so the per-attempt rate is not hidden
  behind the verdict after attempts;
- proofs expected clean (`no-errors`): runs, false alarms (a failed verdict), and the
  one-sided 95 % upper bound of the false-alarm rate.

One-sided, because each target is one-sided: detection at least 95 %, false alarms
under 5 % (60 of 60 gives 95.1 %, 0 of 60 gives 4.9 %).

A result seen twice (the same scenario id and start, e.g. a copied folder) counts once;
other informative results are left out.

    .venv/bin/python benchmarks/repeatability.py reports/ /tmp/old-runs/*/reports
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from graceproof.stats import clopper_pearson

JUDGED = ("errors", "no-errors")  # informative results are held to nothing
# How graceproof.controls.superseded begins the message of an attempt another followed.
SUPERSEDED = "negative control, attempt "
ONE_SIDED_95 = 0.90  # a two-sided 90 % interval: each end is a one-sided 95 % bound


def family(d: dict[str, Any]) -> str:
    params = d.get("parameters") or {}
    workload = params.get("workload") or {}
    path = "ingress" if workload.get("controller") else "service"
    placement = (params.get("placement") or {}).get("kind") or "host"
    disruption = (d.get("disruption") or {}).get("kind", "?")
    return f"{disruption} / {d.get('connection', '?')} / {path} / load on {placement}"


def tally(folders: list[Path]) -> dict[str, dict[str, list[bool]]]:
    """Per family: "errors" (each control's verdict after its attempts), "attempts" (every
    attempt of a control: whether it reproduced failures) and "no-errors"."""
    seen: set[tuple[str, float]] = set()
    out: dict[str, dict[str, list[bool]]] = defaultdict(
        lambda: {"errors": [], "attempts": [], "no-errors": []}
    )
    for folder in folders:
        for path in sorted(folder.rglob("*.json")):
            try:
                d = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            verdict = d.get("verdict") if isinstance(d, dict) else None
            if not isinstance(verdict, dict):
                continue
            expected = verdict.get("expected")
            attempt = str(verdict.get("message", "")).startswith(SUPERSEDED)
            if expected not in JUDGED and not attempt:
                continue
            key = (str(d.get("scenario_id")), float(d.get("started") or 0.0))
            if key in seen:
                continue
            seen.add(key)
            row = out[family(d)]
            if attempt:
                row["attempts"].append(False)  # it reproduced nothing, so it was repeated
                continue
            row[expected].append(bool(verdict["passed"]))
            if expected == "errors":
                failed = (d.get("counts") or {}).get("failed_in_windows") or 0
                row["attempts"].append(failed > 0)
    return dict(out)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("folders", nargs="+", type=Path)
    args = p.parse_args()
    table = tally(args.folders)
    print(
        "| family | controls | detected | detection, 95% lower | control attempts | "
        "reproduced | per attempt, 95% lower | clean runs | false alarms "
        "| false alarms, 95% upper |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals: dict[str, list[bool]] = {"errors": [], "attempts": [], "no-errors": []}
    for name in sorted(table):
        row = table[name]
        for k in totals:
            totals[k] += row[k]
        print(_row(name, row))
    print(_row("**all**", totals))


def _row(name: str, row: dict[str, list[bool]]) -> str:
    controls, attempts, clean = row["errors"], row["attempts"], row["no-errors"]
    detected, reproduced = sum(controls), sum(attempts)
    alarms = sum(not ok for ok in clean)
    return (
        f"| {name} | {len(controls)} | {detected} | {_lower(detected, len(controls))} | "
        f"{len(attempts)} | {reproduced} | {_lower(reproduced, len(attempts))} | "
        f"{len(clean)} | {alarms} | {_upper(alarms, len(clean))} |"
    )


def _lower(k: int, n: int) -> str:
    return f"{clopper_pearson(k, n, ONE_SIDED_95)[0]:.1%}" if n else "-"


def _upper(k: int, n: int) -> str:
    return f"{clopper_pearson(k, n, ONE_SIDED_95)[1]:.1%}" if n else "-"


if __name__ == "__main__":
    main()
