"""A Markdown summary of a run: one table row per scenario, plus the verdict messages.

Also appended to $GITHUB_STEP_SUMMARY when that is set, so a CI job page shows it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from graceproof.counts import Counts
from graceproof.result import ScenarioResult
from graceproof.result_files import write_file_whole
from graceproof.stats import fisher_exact_one_sided
from graceproof.traffic import describe_summary

NO_HOOK = "no-hook"
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
SUMMARY_NAME = "summary.md"


def pair_p_value(no_hook: ScenarioResult, hook: ScenarioResult) -> float:
    """One-sided Fisher p that the hook variant fails less often than no-hook.

    Uses the overall counts (failed of all requests): paired scenarios run the same
    load for the same time through the same disruption, so their totals compare like
    with like. In-window totals would not: a hook lengthens the window and so dilutes
    its rate.
    """
    return fisher_exact_one_sided(
        no_hook.counts.failed, no_hook.counts.total, hook.counts.failed, hook.counts.total
    )


def find_pairs(results: Sequence[ScenarioResult]) -> dict[str, ScenarioResult]:
    """For each hook result (by its name, `file_stem`), the no-hook result run under
    the same conditions (same disruption kind, connection policy and cluster)."""
    controls = {
        (r.disruption.kind, r.connection, r.cluster.name): r
        for r in results
        if r.variant == NO_HOOK
    }
    pairs = {}
    for r in results:
        if r.variant == NO_HOOK:
            continue
        control = controls.get((r.disruption.kind, r.connection, r.cluster.name))
        if control is not None:
            pairs[r.file_stem] = control
    return pairs


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _measured(r: ScenarioResult) -> list[str]:
    """Unavailable seconds and p99 latency inside / outside the windows ('' if unknown)."""
    m = r.measures
    if m is None:
        return ["", ""]
    inside = f"{m.latency_in_windows.p99 * 1000:.0f} ms" if m.latency_in_windows else "-"
    outside = f"{m.latency_outside.p99 * 1000:.0f} ms" if m.latency_outside else "-"
    return [f"{m.unavailable_s:.2f} s", f"{inside} / {outside}"]


def _row(r: ScenarioResult, control: ScenarioResult | None, link: str) -> list[object]:
    c = r.counts
    if r.verdict.expected == "informative":
        verdict = "informative (not judged)"
    else:
        verdict = ("pass" if r.verdict.passed else "**FAIL**") + f" (expected {r.verdict.expected})"
    return [
        r.file_stem,
        r.variant,
        r.disruption.kind,
        r.connection,
        c.total,
        c.failed,
        c.in_windows,
        _in_windows_by_class(c),
        f"{c.late} ({c.late_in_windows})" if c.late else "0",
        r.stats["overall"].describe() if "overall" in r.stats else "",
        *_measured(r),
        _p(pair_p_value(control, r)) if control is not None else "",
        verdict,
        f"[png]({link})" if link else "",
    ]


def _in_windows_by_class(c: Counts) -> str:
    """`46 (stale_endpoint 44, cut 2)`: the failures inside the windows, by where they
    failed (graceproof.failures); retryable ones taken as answered are added after."""
    text = str(c.failed_in_windows)
    where = ", ".join(f"{k} {v}" for k, v in c.classes_in_windows.items())
    if c.retried_in_windows:
        where += f"{', ' if where else ''}{c.retried_in_windows} retryable not counted"
    return f"{text} ({where})" if where else text


def _gaps_said(results: Sequence[ScenarioResult]) -> str:
    """The results whose timeline has gaps (the API connection cut): their verdicts say
    where, and fail when a gap lies inside a termination window."""
    cut = [r for r in results if r.gaps]
    if not cut:
        return ""
    names = ", ".join(r.file_stem for r in cut)
    return f" The timeline of {names} has gaps (the API connection cut): see the verdicts."


# Record times moved between clocks by more than this make window edges unsure enough
# to say so: the kube-proxy lag itself is a few hundred ms.
UNSURE_CLOCK_S = 0.1


def _placement(r: ScenarioResult) -> str:
    """Where the load ran, when in the cluster: its workers and its clock's residual
    uncertainty, said plainly when it blurs the window edges."""
    p = r.load.get("placement")
    if not isinstance(p, dict):
        return ""
    residual = float((p.get("clock") or {}).get("residual_uncertainty_s") or 0.0)
    text = f"; load from {p.get('workers')} worker pods in the cluster, clock +-{residual:.3f} s"
    if residual > UNSURE_CLOCK_S:
        text += " (window edges are only that sure)"
    return text


def render_markdown(
    results: Sequence[ScenarioResult],
    *,
    pictures: Mapping[str, str] | None = None,
    title: str = "graceproof results",
) -> str:
    """The summary as Markdown; `pictures` maps a result's name (`file_stem`: its
    scenario id, made unique in its folder) -> link to its PNG."""
    pictures = dict(pictures or {})
    pairs = find_pairs(results)
    judged = [r for r in results if r.verdict.expected != "informative"]
    passed = sum(r.verdict.passed for r in judged)
    shown = len(results) - len(judged)
    lines = [
        f"## {title}",
        "",
        f"{passed} of {len(judged)} scenarios passed."
        + (
            f" {shown} more {'is' if shown == 1 else 'are'} informative, not judged."
            if shown
            else ""
        )
        + _gaps_said(results),
        "",
        "| scenario | variant | disruption | connection | requests | failed | in windows "
        "| failed in windows | late (in windows) | error rate (95%) | unavailable "
        "| p99 in / out of windows | p vs no-hook | verdict | picture |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|---:|---|---:|---|---|",
    ]
    for r in results:
        link = pictures.get(r.file_stem) or r.artifacts.get("picture", "")
        row = _row(r, pairs.get(r.file_stem), link)
        lines.append("| " + " | ".join(_cell(x) for x in row) + " |")
    lines += ["", "<details><summary>Verdicts</summary>", ""]
    for r in results:
        cluster = r.cluster.describe()
        lag = f"; {r.propagation.describe()}" if r.propagation and r.propagation.lags else ""
        kind = describe_summary(r.connection, r.traffic)
        traffic = f"; {kind}" if kind else ""
        where = _placement(r)
        went = f"; {r.shutdown}" if r.shutdown else ""
        lines.append(
            f"- **{r.file_stem}** ({cluster}): {r.verdict.message}{lag}{traffic}{where}{went}"
        )
    lines += [
        "",
        "</details>",
        "",
        "Error rate: rule of three (< 3/n) when no request failed, else the exact "
        "Clopper-Pearson interval. p: one-sided Fisher exact test that the hook variant "
        "fails less often than no-hook under the same disruption and connection policy. "
        "Unavailable: seconds in which no request succeeded. Latency counts failed "
        "requests too (a timeout is felt as the timeout).",
        "",
    ]
    return "\n".join(lines)


def write_summary(
    results: Sequence[ScenarioResult],
    out_dir: Path,
    *,
    pictures: Mapping[str, str] | None = None,
    title: str = "graceproof results",
    preface: str = "",
) -> Path:
    """Write out_dir/summary.md, and append it to $GITHUB_STEP_SUMMARY when set, there
    with each picture named instead of linked, and where to find them. `preface`: Markdown
    put above the table of the runs (an explanation's table, graceproof.explain)."""
    text = (preface.rstrip("\n") + "\n\n" if preface else "") + render_markdown(
        results, pictures=pictures, title=title
    )
    path = out_dir / SUMMARY_NAME
    write_file_whole(path, text)
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary:
        # The job page resolves a relative link against github.com, not the report
        # folder, so a [png](name.png) there is broken: the name says which file it is.
        named = re.sub(
            r"\[png\]\(([^)\s]+)\)",
            lambda m: m[0] if "://" in m[1] else f"`{m[1]}`",
            text,
        )
        if named != text:
            named += (
                f"\nPictures: the `.png` files named above, in `{out_dir}/` with summary.md "
                "(whose links open them); this page cannot show them: download that folder "
                "from the run's artifacts when the workflow uploads it.\n"
            )
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(named + "\n")
    return path
