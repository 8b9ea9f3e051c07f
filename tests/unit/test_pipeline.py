"""The verdict pipeline as named values: Scenario -> Subject + Measurement -> Analysis
-> Verdict -> ScenarioResult, and the seams it keeps apart."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from graceproof.action_log import DisruptionRecord
from graceproof.analysis import Analysis
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord, TimelineEvent
from graceproof.result import ScenarioResult
from graceproof.subject import Subject
from graceproof.verdict import judge

T0 = 1_764_400_000.0


def test_importing_the_disruptions_leaves_the_analysis_and_the_result_unimported() -> None:
    # A disruption writes the action log; the analysis behind a result is not its business.
    analysis = [
        "graceproof.analysis",
        "graceproof.counts",
        "graceproof.measures",
        "graceproof.result",
        "graceproof.result_files",
        "graceproof.verdict",
        "graceproof.windows",
    ]
    check = (
        "import sys, graceproof.disruptions; "
        f"print([m for m in {analysis!r} if m in sys.modules], "
        "'graceproof.action_log' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True"


def _run() -> tuple[Subject, Measurement]:
    records = [
        RequestRecord(T0 + i / 20, 0.01, i != 50, 200 if i != 50 else 0, None, "web-1")
        for i in range(200)
    ]
    timeline = [  # out of order, as the watches may deliver them
        TimelineEvent(T0 + 4.0, "pod_gone", "web-1"),
        TimelineEvent(T0 + 2.0, "pod_deleted", "web-1"),
    ]
    subject = Subject("web--delete-one-by-one--new", "web", "new", "no-errors")
    measurement = Measurement(
        cluster=ClusterInfo("existing", "local", "v1.34.4"),
        disruption=DisruptionRecord("delete-one-by-one", T0 + 2.0, T0 + 4.0),
        load={"users": 1},
        records=records,
        timeline=timeline,
        started=T0,
        finished=T0 + 11,
    )
    return subject, measurement


def test_a_result_keeps_the_subject_the_measurement_the_analysis_and_its_verdict() -> None:
    subject, measurement = _run()
    analysis = Analysis.of(subject, measurement)
    result = ScenarioResult.build(subject, measurement, name="web")
    assert (result.scenario_id, result.variant, result.connection) == (
        "web--delete-one-by-one--new",
        "web",
        "new",
    )
    assert result.disruption is measurement.disruption
    assert (result.cluster, result.started, result.finished) == (
        measurement.cluster,
        T0,
        T0 + 11,
    )
    assert [e.kind for e in result.timeline] == ["pod_deleted", "pod_gone"]
    assert result.windows == list(analysis.windows)
    assert (result.counts, result.stats) == (analysis.counts, analysis.bounds)
    assert (result.series, result.measures) == (analysis.series, analysis.measures)
    assert result.propagation == analysis.propagation
    assert result.verdict == judge("no-errors", analysis.counts, measures=analysis.measures)
    assert not result.verdict.passed and result.counts.failed == 1


def test_the_values_of_the_pipeline_are_frozen() -> None:
    subject, measurement = _run()
    for value in (subject, measurement, Analysis.of(subject, measurement)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.started = 0.0  # type: ignore[misc, union-attr]
