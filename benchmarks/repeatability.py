"""How often does each verdict come out right, per scenario family, over every result
graceproof wrote? Reads result JSON files (recursively) from the folders given, e.g.
the report folders of many `make test`/`make e2e`/`.ci/run` runs, and prints per family
(disruption, traffic kind, path, load placement):

- negative controls (expected `errors`): runs, detected (the control failed as it must),
  and the 95 % lower bound (Clopper-Pearson) of the detection rate;
- proofs expected clean (`no-errors`): runs, false alarms (a failed verdict), and the
  95 % upper bound of the false-alarm rate.

A result seen twice (the same scenario id and start, e.g. a copied folder) counts once;
informative results are left out.

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


def family(d: dict[str, Any]) -> str:
    params = d.get("parameters") or {}
    workload = params.get("workload") or {}
    path = "ingress" if workload.get("controller") else "service"
    placement = (params.get("placement") or {}).get("kind") or "host"
    disruption = (d.get("disruption") or {}).get("kind", "?")
    return f"{disruption} / {d.get('connection', '?')} / {path} / load on {placement}"


def tally(folders: list[Path]) -> dict[str, dict[str, list[bool]]]:
    seen: set[tuple[str, float]] = set()
    out: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {"errors": [], "no-errors": []})
    for folder in folders:
        for path in sorted(folder.rglob("*.json")):
            try:
                d = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            verdict = d.get("verdict") if isinstance(d, dict) else None
            if (
                not isinstance(verdict, dict)
                or verdict.get("expected") not in out.default_factory()
            ):  # type: ignore[misc]
                continue
            key = (str(d.get("scenario_id")), float(d.get("started") or 0.0))
            if key in seen:
                continue
            seen.add(key)
            out[family(d)][verdict["expected"]].append(bool(verdict["passed"]))
    return dict(out)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("folders", nargs="+", type=Path)
    args = p.parse_args()
    table = tally(args.folders)
    print(
        "| family | controls | detected | detection, 95% lower | clean runs | false alarms "
        "| false alarms, 95% upper |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    totals: dict[str, list[bool]] = {"errors": [], "no-errors": []}
    for name in sorted(table):
        row = table[name]
        totals["errors"] += row["errors"]
        totals["no-errors"] += row["no-errors"]
        print(_row(name, row))
    print(_row("**all**", totals))


def _row(name: str, row: dict[str, list[bool]]) -> str:
    controls, clean = row["errors"], row["no-errors"]
    detected, alarms = sum(controls), sum(not ok for ok in clean)
    lower = f"{clopper_pearson(detected, len(controls))[0]:.1%}" if controls else "-"
    upper = f"{clopper_pearson(alarms, len(clean))[1]:.1%}" if clean else "-"
    return (
        f"| {name} | {len(controls)} | {detected} | {lower} | {len(clean)} | {alarms} | {upper} |"
    )


if __name__ == "__main__":
    main()
