"""The picture of a drain: the node each pod ran on, cordon and uncordon, and each
eviction attempt by its answer (201 accepted, 429 refused by a budget)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from graceproof.action_log import DisruptionRecord
from graceproof.gaps import WatchGap
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord, TimelineEvent
from graceproof.report.picture import (
    _legend,
    _mark_nodes,
    _mark_timeline,
    _node_colors,
    _node_handles,
    render_picture,
)
from graceproof.result import ScenarioResult
from graceproof.subject import Subject

T0 = 1_764_400_000.0


def drained() -> ScenarioResult:
    record = DisruptionRecord(kind="drain-node", started=T0 + 2, finished=T0 + 9)
    actions = [
        (2.0, "cordon", {"node": "node-a"}),
        (2.1, "evict", {"pod": "web-1", "node": "node-a", "status": 201}),
        (2.2, "evict", {"pod": "web-2", "node": "node-a", "status": 429}),
        (3.2, "evict", {"pod": "web-2", "node": "node-a", "status": 201}),
        (8.0, "uncordon", {"node": "node-a"}),
    ]
    record.actions.extend({"t": T0 + t, "action": a, **d} for t, a, d in actions)
    timeline = [
        # The originals were scheduled while the workload was deployed, before the load.
        TimelineEvent(T0 - 30.0, "pod_scheduled", "web-1", {"node": "node-a"}),
        TimelineEvent(T0 - 29.5, "pod_scheduled", "web-2", {"node": "node-a"}),
        TimelineEvent(T0 + 2.1, "pod_deleted", "web-1"),
        TimelineEvent(T0 + 2.5, "pod_scheduled", "web-3", {"node": "node-b"}),
        TimelineEvent(T0 + 2.6, "pod_gone", "web-1"),
    ]
    records = [RequestRecord(T0 + i / 10, 0.01, True, 200) for i in range(100)]
    return ScenarioResult.build(
        Subject(
            scenario_id="prestop-sleep--drain-node--new",
            variant="prestop-sleep",
            connection="new",
            expected="no-errors",
        ),
        Measurement(
            cluster=ClusterInfo(provider="existing", name="local", kubernetes_version="v1.34.4"),
            disruption=record,
            load={"users": 2},
            records=records,
            timeline=timeline,
            started=T0,
            finished=T0 + 10,
        ),
    )


def test_the_legend_names_the_nodes_the_cordon_and_each_eviction_answer() -> None:
    result = drained()
    labels = [h.get_label() for h in _node_handles(result, 10.0)]
    assert labels == [
        "pod on node-a",
        "pod on node-b",
        "cordon node-a",
        "uncordon node-a",
        "eviction accepted (201)",
        "eviction refused (429, budget)",
    ]


def test_a_drain_picture_renders_and_survives_the_json_round_trip(tmp_path: Path) -> None:
    result = drained()
    assert render_picture(result, tmp_path / "drain.png").read_bytes()[:4] == b"\x89PNG"
    again = ScenarioResult.from_dict(result.to_dict())
    assert [h.get_label() for h in _node_handles(again, 10.0)] == [
        h.get_label() for h in _node_handles(result, 10.0)
    ]


def test_a_picture_without_nodes_or_evictions_has_no_such_legend_entries() -> None:
    result = drained()
    result.disruption.detail["actions"] = []
    bare = ScenarioResult.from_dict(
        {**result.to_dict(), "timeline": [e.to_dict() for e in result.timeline[2:3]]}
    )
    assert _node_handles(bare, 10.0) == []


def test_pods_scheduled_before_the_load_are_drawn_at_its_start() -> None:
    result = drained()
    assert result.series.t0 == T0  # the first request: the originals were placed before
    top = Figure().subplots()
    _mark_nodes(top, result, 10.0)
    colors = _node_colors(result)
    drawn = [
        (round(float(x), 3), to_hex(c.get_facecolors()[0]))
        for c in top.collections
        for x, _ in c.get_offsets()
    ]
    assert drawn == [
        (0.0, colors["node-a"]),  # web-1, clamped to the picture's left edge
        (0.0, colors["node-a"]),  # web-2
        (2.5, colors["node-b"]),  # web-3, the replacement
    ]


def test_pods_scheduled_after_the_picture_ends_are_not_drawn() -> None:
    top = Figure().subplots()
    _mark_nodes(top, drained(), 2.0)
    assert [float(x) for c in top.collections for x, _ in c.get_offsets()] == [0.0, 0.0]


def test_a_gap_of_the_timeline_is_hatched_and_named_in_the_legend(tmp_path: Path) -> None:
    result = replace(drained(), gaps=[WatchGap("pods", T0 + 3.0, T0 + 5.0, "reset")])
    axis = Figure().subplots()
    _mark_timeline(axis, result, 10.0)
    hatched = [p for p in axis.patches if p.get_hatch() == "//"]
    assert [(p.get_x(), p.get_width()) for p in hatched] == [(3.0, 2.0)]
    _legend(axis, result, 10.0)
    legend = axis.get_legend()
    assert legend is not None and "timeline gap (watch cut)" in [
        t.get_text() for t in legend.get_texts()
    ]
    assert render_picture(result, tmp_path / "gap.png").read_bytes()[:4] == b"\x89PNG"
