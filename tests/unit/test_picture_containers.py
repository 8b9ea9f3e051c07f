"""The picture of a pod with a proxy beside the app: each container's end is drawn, in
a color per container, so which one went first shows; a pod of one container draws
none (its "app exit" says it already)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from graceproof.action_log import DisruptionRecord
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord, TimelineEvent
from graceproof.report.picture import CONTAINER_COLORS, _legend, _mark_timeline, render_picture
from graceproof.result import ScenarioResult
from graceproof.subject import Subject

T0 = 1_764_400_000.0


def proxied(*containers: tuple[str, float]) -> ScenarioResult:
    """A result whose pod web-1 was deleted at 2 s and whose containers ended at the
    given seconds."""
    timeline = [TimelineEvent(T0 + 2.0, "pod_deleted", "web-1")]
    timeline += [
        TimelineEvent(T0 + t, "container_terminated", "web-1", {"container": name})
        for name, t in containers
    ]
    return ScenarioResult.build(
        Subject(
            scenario_id="prestop-sleep-behind-native-sidecar--delete-one-by-one--new",
            variant="prestop-sleep-behind-native-sidecar",
            connection="new",
            expected="no-errors",
        ),
        Measurement(
            cluster=ClusterInfo(provider="existing", name="local", kubernetes_version="v1.34.4"),
            disruption=DisruptionRecord(kind="delete-one-by-one", started=T0 + 2),
            load={"users": 2},
            records=[RequestRecord(T0 + i / 10, 0.01, True, 200) for i in range(100)],
            timeline=timeline,
            started=T0,
            finished=T0 + 10,
        ),
    )


def _container_lines(axis: object) -> list[tuple[float, str]]:
    lines = axis.get_lines()  # type: ignore[attr-defined]
    return sorted(
        (float(ln.get_xdata()[0]), to_hex(ln.get_color()))
        for ln in lines
        if to_hex(ln.get_color()) in CONTAINER_COLORS
    )


def test_each_containers_end_is_drawn_in_its_color_and_named_in_the_legend(
    tmp_path: Path,
) -> None:
    result = proxied(("app", 7.0), ("proxy", 8.0))
    axis = Figure().subplots()
    _mark_timeline(axis, result, 10.0)
    assert _container_lines(axis) == [(7.0, "#e377c2"), (8.0, "#17becf")]
    _legend(axis, result, 10.0)
    legend = axis.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert "app container ended" in texts and "proxy container ended" in texts
    assert render_picture(result, tmp_path / "proxied.png").read_bytes()[:4] == b"\x89PNG"


def test_a_pod_of_one_container_draws_no_container_end() -> None:
    result = proxied(("app", 7.0))
    axis = Figure().subplots()
    _mark_timeline(axis, result, 10.0)
    assert _container_lines(axis) == []
    _legend(axis, result, 10.0)
    legend = axis.get_legend()
    assert legend is not None
    assert not any("container ended" in t.get_text() for t in legend.get_texts())
