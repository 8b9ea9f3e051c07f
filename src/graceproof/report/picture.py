"""One PNG per scenario: requests/s and failures/s over time, with the timeline marked.

Uses matplotlib's object API with the Agg canvas (no pyplot): no global state, no
display needed, safe in CI and in a pytest process.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import LineStyleType

from graceproof.result import ScenarioResult

OK_COLOR = "#4c72b0"
FAIL_COLOR = "#d62728"
WINDOW_COLOR = "#bbbbbb"
# kind -> (label, color, line style, width); drawn in this order.
MARKERS: dict[str, tuple[str, str, LineStyleType, float]] = {
    "pod_deleted": ("pod deleted", "black", "-", 1.6),
    "endpoint_not_ready": ("endpoint not ready", "#ff7f0e", "--", 1.2),
    "hook_start": ("preStop hook start", "#2ca02c", "-.", 1.2),
    "hook_end": ("preStop hook end", "#1b5e20", ":", 1.6),
    "sigterm": ("SIGTERM", "#9467bd", "--", 1.4),
    "app_exit": ("app exit", "#8c564b", "-", 1.0),
}


def render_picture(result: ScenarioResult, path: Path) -> Path:
    """Draw the scenario's timeline picture into path (PNG); return path."""
    series = result.series
    fig = Figure(figsize=(11, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    times = series.times()
    # Counts per bin drawn as rates, so the axes read "per second" whatever the bin.
    ok_rate = [n / series.bin_s for n in series.ok]
    failed_rate = [n / series.bin_s for n in series.failed]
    if times:
        bars = {"width": series.bin_s, "align": "edge", "zorder": 2}
        top.bar(times, ok_rate, color=OK_COLOR, **bars)
        bottom.bar(times, failed_rate, color=FAIL_COLOR, **bars)
        end = len(times) * series.bin_s
    else:
        top.text(0.5, 0.5, "no requests recorded", ha="center", transform=top.transAxes)
        end = max(1.0, result.finished - result.started)
    for axis in (top, bottom):
        _mark_timeline(axis, result, end)
    top.set_ylabel("ok requests / s")
    bottom.set_ylabel("failed requests / s")
    bottom.set_xlabel(
        f"seconds since load start (requests by completion time, {series.bin_s:g} s bins)"
    )
    bottom.set_ylim(bottom=0, top=max([1.0, *failed_rate]) * 1.15)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(top, result, end)
    _titles(fig, top, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _mark_timeline(axis: Axes, result: ScenarioResult, end: float) -> None:
    """Termination windows as bands, timeline events as vertical lines."""
    t0 = result.series.t0
    for w in result.windows:
        axis.axvspan(w.start - t0, w.end - t0, color=WINDOW_COLOR, alpha=0.35, lw=0, zorder=0)
    for event in result.timeline:
        style = MARKERS.get(event.kind)
        if style is None or not 0 <= event.t - t0 <= end:
            continue
        _, color, linestyle, width = style
        axis.axvline(event.t - t0, color=color, linestyle=linestyle, linewidth=width, zorder=3)
    axis.grid(axis="y", alpha=0.3, zorder=1)
    axis.set_axisbelow(True)
    axis.set_xlim(0, end)


def _legend(top: Axes, result: ScenarioResult, end: float) -> None:
    t0 = result.series.t0
    seen = {e.kind for e in result.timeline if 0 <= e.t - t0 <= end}
    handles: list[Line2D | Patch] = [
        Patch(color=OK_COLOR, label="ok"),
        Patch(color=FAIL_COLOR, label="failed"),
    ]
    if result.windows:
        handles.append(Patch(color=WINDOW_COLOR, alpha=0.4, label="termination window"))
    handles += [
        Line2D([], [], color=color, linestyle=ls, linewidth=lw, label=label)
        for kind, (label, color, ls, lw) in MARKERS.items()
        if kind in seen
    ]
    top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)


def _titles(fig: Figure, top: Axes, result: ScenarioResult) -> None:
    verdict = result.verdict
    state = "PASS" if verdict.passed else "FAIL"
    counts = result.counts
    fig.suptitle(
        f"{result.variant} | {result.disruption.kind} | {result.connection} connections"
        f" | {state} (expected {verdict.expected})",
        fontsize=12,
        fontweight="bold",
        color="black" if verdict.passed else FAIL_COLOR,
    )
    m = result.measures
    measured = ""
    if m is not None:
        measured = f"; unavailable {m.unavailable_s:.2f} s"
        if m.latency_in_windows is not None:
            measured += f"; p99 in windows {m.latency_in_windows.p99 * 1000:.0f} ms"
        if m.latency_outside is not None:
            measured += f", outside {m.latency_outside.p99 * 1000:.0f} ms"
    top.set_title(
        f"{result.file_stem}: {counts.failed} of {counts.total} requests failed, "
        f"{counts.failed_in_windows} of {counts.in_windows} inside termination windows" + measured,
        fontsize=10,
    )
