"""One PNG per scenario: requests/s and failures/s over time, with the timeline marked.

Uses matplotlib's object API with the Agg canvas (no pyplot): no global state, no
display needed, safe in CI and in a pytest process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import LineStyleType

from graceproof.model import TimelineEvent
from graceproof.result import ScenarioResult

OK_COLOR = "#4c72b0"
FAIL_COLOR = "#d62728"
WINDOW_COLOR = "#bbbbbb"
# Where a watch was cut off from the API server: the timeline's times there are late.
GAP_COLOR = "#e6ab02"
# kind -> (label, color, line style, width); drawn in this order.
MARKERS: dict[str, tuple[str, str, LineStyleType, float]] = {
    "pod_deleted": ("pod deleted", "black", "-", 1.6),
    "pod_disrupted": ("pod disrupted (DisruptionTarget)", "#444444", "-", 1.6),
    "endpoint_not_ready": ("endpoint not ready", "#ff7f0e", "--", 1.2),
    "hook_start": ("preStop hook start", "#2ca02c", "-.", 1.2),
    "hook_end": ("preStop hook end", "#1b5e20", ":", 1.6),
    "sigterm": ("SIGTERM", "#9467bd", "--", 1.4),
    "app_exit": ("app exit", "#8c564b", "-", 1.0),
}
# Disruption actions with a node, drawn from the result's record (result.disruption),
# which keeps each action's detail: the node, the eviction's HTTP answer.
NODE_ACTIONS: dict[str, tuple[str, str, LineStyleType, float]] = {
    "cordon": ("cordon", "#17becf", "-", 2.4),
    "uncordon": ("uncordon", "#17becf", ":", 2.4),
    "prepare_for_shutdown": ("node shutdown announced", "#e377c2", "-", 2.4),
    "shutdown_cancelled": ("node shutdown cancelled", "#e377c2", ":", 2.4),
}
# Eviction attempts by HTTP answer -> (label, color, marker); other answers in grey.
EVICTIONS: dict[int, tuple[str, str, str]] = {
    201: ("eviction accepted (201)", "black", "v"),
    429: ("eviction refused (429, budget)", FAIL_COLOR, "x"),
}
OTHER_EVICTION = ("eviction, other answer", "#7f7f7f", "o")
# Each container's end, drawn only in pods of more than one container (a proxy beside
# the app): which ended first is the finding there; alone, "app exit" says it.
CONTAINER_COLORS = ("#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
CONTAINER_STYLE: tuple[LineStyleType, float] = ((0, (1, 1)), 2.0)
# One color per node for the pods scheduled on it (pod_scheduled events).
NODE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")


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
        _mark_node_actions(axis, result, end)
    _mark_evictions(top, result, end)
    _mark_nodes(top, result, end)
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
    for g in result.gaps:
        axis.axvspan(g.start - t0, g.end - t0, facecolor="none", edgecolor=GAP_COLOR,
                     hatch="//", lw=0, zorder=0)  # fmt: skip
    for event in result.timeline:
        style = MARKERS.get(event.kind)
        if style is None or not 0 <= event.t - t0 <= end:
            continue
        _, color, linestyle, width = style
        axis.axvline(event.t - t0, color=color, linestyle=linestyle, linewidth=width, zorder=3)
    colors = _container_colors(result)
    for event in _container_ends(result):
        if 0 <= event.t - t0 <= end:
            color = colors[str(event.detail.get("container"))]
            ls, lw = CONTAINER_STYLE
            axis.axvline(event.t - t0, color=color, linestyle=ls, linewidth=lw, zorder=3)
    axis.grid(axis="y", alpha=0.3, zorder=1)
    axis.set_axisbelow(True)
    axis.set_xlim(0, end)


def _container_ends(result: ScenarioResult) -> list[TimelineEvent]:
    """container_terminated events of the pods where more than one container ended."""
    ends = [e for e in result.timeline if e.kind == "container_terminated" and e.pod]
    names: dict[str, set[str]] = {}
    for e in ends:
        names.setdefault(str(e.pod), set()).add(str(e.detail.get("container")))
    return [e for e in ends if len(names[str(e.pod)]) > 1]


def _container_colors(result: ScenarioResult) -> dict[str, str]:
    names = sorted({str(e.detail.get("container")) for e in _container_ends(result)})
    return {n: CONTAINER_COLORS[i % len(CONTAINER_COLORS)] for i, n in enumerate(names)}


def _actions(result: ScenarioResult, end: float, *names: str) -> list[dict[str, Any]]:
    """The record's actions called `names` inside the picture, times from t0."""
    t0 = result.series.t0
    return [
        {**a, "x": float(a["t"]) - t0}
        for a in result.disruption.actions
        if a.get("action") in names and "t" in a and 0 <= float(a["t"]) - t0 <= end
    ]


def _mark_node_actions(axis: Axes, result: ScenarioResult, end: float) -> None:
    """Cordon and uncordon of a node as vertical lines."""
    for a in _actions(result, end, *NODE_ACTIONS):
        _, color, linestyle, width = NODE_ACTIONS[a["action"]]
        axis.axvline(a["x"], color=color, linestyle=linestyle, linewidth=width, zorder=3)


def _pin(top: Axes) -> dict[str, Any]:
    """Scatter options for a marker at a height in axes fraction (x in data)."""
    return {"zorder": 4, "transform": top.get_xaxis_transform(), "clip_on": False}


def _eviction_style(status: Any) -> tuple[str, str, str]:
    return EVICTIONS.get(status, OTHER_EVICTION) if isinstance(status, int) else OTHER_EVICTION


def _mark_evictions(top: Axes, result: ScenarioResult, end: float) -> None:
    """Each eviction attempt as a marker at the foot of the top panel, by its answer:
    a run of red crosses is a budget holding the drain back."""
    for a in _actions(result, end, "evict"):
        _, color, marker = _eviction_style(a.get("status"))
        # A white edge keeps a marker readable on the blue bars behind it.
        edge = "white" if marker != "x" else None
        top.scatter(
            [a["x"]],
            [0.04],
            marker=marker,
            c=color,
            edgecolors=edge,
            s=50,
            linewidths=0.5 if edge else 1.8,  # an x is all edge
            **_pin(top),
        )


def _node_colors(result: ScenarioResult) -> dict[str, str]:
    nodes = sorted({str(e.detail["node"]) for e in result.timeline if _scheduled(e)})
    return {n: NODE_COLORS[i % len(NODE_COLORS)] for i, n in enumerate(nodes)}


def _scheduled(event: TimelineEvent) -> bool:
    return event.kind == "pod_scheduled" and bool(event.detail.get("node"))


def _mark_nodes(top: Axes, result: ScenarioResult, end: float) -> None:
    """Each pod's node, where it was first seen scheduled: a marker at the head of the
    top panel in the node's color (a drain shows as markers turning another color).

    The original pods were scheduled before the load's first request (t0); their
    markers sit at x=0, else the nodes they ran on would never show."""
    t0, colors = result.series.t0, _node_colors(result)
    for e in result.timeline:
        if _scheduled(e) and e.t - t0 <= end:
            color = colors[str(e.detail["node"])]
            x = max(0.0, e.t - t0)
            top.scatter([x], [0.96], marker="s", color=color, s=24, **_pin(top))


def _node_handles(result: ScenarioResult, end: float) -> list[Line2D | Patch]:
    """Legend entries for nodes, cordons and eviction answers present in the picture."""
    handles: list[Line2D | Patch] = [
        Line2D([], [], color=color, marker="s", linestyle="", label=f"pod on {node}")
        for node, color in _node_colors(result).items()
    ]
    for action, (label, color, ls, lw) in NODE_ACTIONS.items():
        nodes = sorted({str(a.get("node")) for a in _actions(result, end, action)})
        if nodes:
            text = f"{label} {', '.join(nodes)}"
            handles.append(Line2D([], [], color=color, linestyle=ls, linewidth=lw, label=text))
    styles = {_eviction_style(a.get("status")) for a in _actions(result, end, "evict")}
    for label, color, marker in sorted(styles):
        handles.append(Line2D([], [], color=color, marker=marker, linestyle="", label=label))
    return handles


def _legend(top: Axes, result: ScenarioResult, end: float) -> None:
    t0 = result.series.t0
    seen = {e.kind for e in result.timeline if 0 <= e.t - t0 <= end}
    handles: list[Line2D | Patch] = [
        Patch(color=OK_COLOR, label="ok"),
        Patch(color=FAIL_COLOR, label="failed"),
    ]
    if result.windows:
        handles.append(Patch(color=WINDOW_COLOR, alpha=0.4, label="termination window"))
    if result.gaps:
        handles.append(
            Patch(
                facecolor="none", edgecolor=GAP_COLOR, hatch="//", label="timeline gap (watch cut)"
            )
        )
    handles += [
        Line2D([], [], color=color, linestyle=ls, linewidth=lw, label=label)
        for kind, (label, color, ls, lw) in MARKERS.items()
        if kind in seen
    ]
    ls, lw = CONTAINER_STYLE
    shown = {
        str(e.detail.get("container")) for e in _container_ends(result) if 0 <= e.t - t0 <= end
    }
    handles += [
        Line2D([], [], color=color, linestyle=ls, linewidth=lw, label=f"{name} container ended")
        for name, color in _container_colors(result).items()
        if name in shown
    ]
    handles += _node_handles(result, end)
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
        f"{counts.failed_in_windows} of {counts.in_windows} inside termination windows"
        + (f", {counts.late} late (not sent)" if counts.late else "")
        + measured,
        fontsize=10,
    )
