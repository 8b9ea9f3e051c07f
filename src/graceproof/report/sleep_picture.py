"""The sleep search of an explanation as a small picture: the failure rate inside the
termination windows against the preStop sleep tried, each with its exact 95 %
interval, the removal lag the runs as written measured marked beside them, and the
shortest sleep that held.

Same canvas as graceproof.report.picture (matplotlib's object API, Agg, no pyplot).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from graceproof.explain.sleep_search import SleepFound
from graceproof.report.picture import FAIL_COLOR, OK_COLOR

__all__ = ["render_sleep_search"]

LAG_COLOR = "#ff7f0e"


def render_sleep_search(found: SleepFound, title: str, path: Path) -> Path:
    """Draw `found` into `path` (PNG) under `title`; return path."""
    fig = Figure(figsize=(7, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axis = fig.subplots()
    top = 0.0
    for seconds, tally in sorted(found.tried.items()):
        b = tally.bound
        rate, lo, hi = 100 * b.rate, 100 * b.lo, 100 * b.hi
        top = max(top, hi)
        color = FAIL_COLOR if tally.failed_in_windows else OK_COLOR
        axis.errorbar(
            [seconds], [rate], yerr=[[rate - lo], [hi - rate]], fmt="o", color=color, capsize=4
        )
        axis.annotate(
            f"{tally.failed_in_windows:,} of {tally.in_windows:,}",
            (seconds, hi),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    if found.lag.lags:
        lag = max(x.since_deletion for x in found.lag.lags)
        axis.axvline(lag, color=LAG_COLOR, linestyle="--", label=f"largest lag {lag:.2f} s")
    axis.axvline(
        found.holding_s,
        color=OK_COLOR,
        linestyle=":",
        label=f"shortest that held: {found.holding_s:g} s",
    )
    axis.set_xlabel("preStop sleep (s); 0: the hook removed")
    axis.set_ylabel("failed inside windows (%, exact 95 % interval)")
    # Room for the counts above the highest interval, and beside the ends.
    axis.set_ylim(0, max(top, 0.1) * 1.25)
    axis.set_xlim(-0.6, max(found.tried) + 0.6)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right", fontsize=8)
    axis.set_title(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
