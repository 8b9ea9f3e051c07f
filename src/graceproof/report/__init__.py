"""Readable proofs: a PNG per scenario, a Markdown summary per run, JUnit properties.

report = build_report(Path("reports/run-1"))   # from the result JSON files there
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from graceproof.errors import ReportWriteError
from graceproof.report.markdown import pair_p_value, render_markdown, write_summary
from graceproof.result import ScenarioResult, load_results

if TYPE_CHECKING:
    from graceproof.explain import Explanation

__all__ = [
    "Report",
    "build_report",
    "draw_sleep_search",
    "junit_properties",
    "pair_p_value",
    "render_markdown",
    "write_explanation_report",
    "write_report",
    "write_summary",
]


def junit_properties(result: ScenarioResult) -> list[tuple[str, str]]:
    """Key figures of a scenario, for pytest's record_property (JUnit XML)."""
    c = result.counts
    props = [
        ("graceproof.scenario", result.scenario_id),
        ("graceproof.variant", result.variant),
        ("graceproof.disruption", result.disruption.kind),
        ("graceproof.connection", result.connection),
        ("graceproof.cluster", f"{result.cluster.provider}/{result.cluster.name}"),
        ("graceproof.kubernetes_version", result.cluster.kubernetes_version),
        ("graceproof.proxy_mode", result.cluster.proxy_mode or "unknown"),
        ("graceproof.requests", str(c.total)),
        ("graceproof.failed", str(c.failed)),
        ("graceproof.in_windows", str(c.in_windows)),
        ("graceproof.failed_in_windows", str(c.failed_in_windows)),
        ("graceproof.error_kinds", ",".join(f"{k}={v}" for k, v in c.error_kinds.items())),
        ("graceproof.expected", result.verdict.expected),
        ("graceproof.passed", str(result.verdict.passed).lower()),
        ("graceproof.verdict", result.verdict.message),
    ]
    if "overall" in result.stats:
        bound = result.stats["overall"]
        props += [
            ("graceproof.error_rate_bound", bound.describe()),
            ("graceproof.error_rate_upper", f"{bound.hi:.6g}"),
        ]
    return props


@dataclass(frozen=True)
class Report:
    summary: Path
    pictures: dict[str, Path]


def write_report(results: Sequence[ScenarioResult], out_dir: Path, *, preface: str = "") -> Report:
    """Draw every scenario's picture into out_dir and write out_dir/summary.md (with
    `preface`, Markdown, above the table of the runs)."""
    # Imported here: matplotlib is slow to import and only needed for pictures.
    from graceproof.report.picture import render_picture

    pictures: dict[str, Path] = {}
    for r in results:
        path = out_dir / f"{r.file_stem}.png"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            pictures[r.file_stem] = render_picture(r, path)
        except OSError as exc:
            raise ReportWriteError(
                f"could not write {path}: {exc.strerror or exc}; the results (JSON) are "
                f"kept, and `graceproof report {out_dir}` draws the pictures again"
            ) from exc
    names = {n: p.name for n, p in pictures.items()}
    summary = write_summary(results, out_dir, pictures=names, preface=preface)
    return Report(summary=summary, pictures=pictures)


def draw_sleep_search(explanation: Explanation, out_dir: Path) -> Path | None:
    """The picture of an explanation's sleep search in out_dir
    (graceproof.report.sleep_picture), when it made one; its path."""
    from graceproof.report.sleep_picture import render_sleep_search

    name, found = explanation.sleep_picture, explanation.sleep
    if name is None or found is None or isinstance(found, str):
        return None
    path = out_dir / name
    try:
        p = explanation.plan
        title = f"{p.ref} under {p.scenario.disruption.kind}: {p.runs} runs per sleep"
        return render_sleep_search(found, title, path)
    except OSError as exc:
        raise ReportWriteError(f"could not write {path}: {exc.strerror or exc}") from exc


def write_explanation_report(explanation: Explanation, out_dir: Path) -> Report:
    """`write_report` of an explanation's runs with its table above them, and the
    picture of its sleep search."""
    draw_sleep_search(explanation, out_dir)
    return write_report(list(explanation.results), out_dir, preface=explanation.markdown())


def build_report(results_dir: Path, out_dir: Path | None = None) -> Report:
    """(Re)build the pictures and summary from the result JSON files in results_dir."""
    results = load_results(results_dir)
    if not results:
        raise FileNotFoundError(f"no graceproof result JSON files in {results_dir}")
    target = out_dir or (results_dir if results_dir.is_dir() else results_dir.parent)
    return write_report(results, target)
