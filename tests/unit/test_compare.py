"""`graceproof compare`: a scenario clean in the baseline must stay clean in the change.

The results are real files written by ScenarioResult.write_json.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from graceproof.action_log import DisruptionRecord
from graceproof.cli import main
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord, TimelineEvent
from graceproof.report.compare import compare
from graceproof.result import ScenarioResult, load_results
from graceproof.subject import Subject

T0 = 1_764_500_000.0
CLUSTER = ClusterInfo(provider="local", name="graceproof-local", kubernetes_version="v1.34.2")


def scenario(variant: str, *, refused: int = 0, seed: int = 3) -> ScenarioResult:
    """20 s at ~80 req/s; one pod deleted at 8 s; `refused` requests fail right after
    its exit (as they would without a hook)."""
    rng = random.Random(seed)
    hook = variant != "no-hook"
    exit_at = 8.0 + (5.3 if hook else 0.05)
    timeline = [
        TimelineEvent(T0 + 8.0, "pod_deleted", "web-1"),
        TimelineEvent(T0 + 8.05, "endpoint_not_ready", "web-1"),
        TimelineEvent(T0 + exit_at - 0.02, "sigterm", "web-1"),
        TimelineEvent(T0 + exit_at, "app_exit", "web-1"),
    ]
    if hook:
        timeline += [
            TimelineEvent(T0 + 8.1, "hook_start", "web-1", {"hook": "exec"}),
            TimelineEvent(T0 + 13.1, "hook_end", "web-1", {"hook": "exec"}),
        ]
    records = [
        RequestRecord(T0 + i / 80 + rng.uniform(0, 0.01), 0.004, True, 200, None, "web-0")
        for i in range(20 * 80)
    ]
    records += [
        RequestRecord(T0 + exit_at + 0.01 * (i + 1), 0.0005, False, 0, "connection_refused")
        for i in range(refused)
    ]
    return ScenarioResult.build(
        Subject(
            scenario_id=f"{variant}--delete-pod--keepalive",
            variant=variant,
            connection="keepalive",
            expected="no-errors" if hook else "errors",
        ),
        Measurement(
            cluster=CLUSTER,
            disruption=DisruptionRecord(
                kind="delete-pod", started=T0 + 8.0, detail={"pod": "web-1"}
            ),
            load={"users": 4, "duration_s": 20},
            records=sorted(records, key=lambda r: r.t),
            timeline=timeline,
            started=T0,
            finished=T0 + 21,
        ),
    )


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    directory = tmp_path / "baseline"
    scenario("no-hook", refused=40).write_json(directory)
    scenario("prestop-exec").write_json(directory)
    scenario("prestop-sleep").write_json(directory)
    return directory


def test_an_unchanged_run_passes(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change = tmp_path / "change"
    change.mkdir()
    for path in baseline.glob("*.json"):
        (change / path.name).write_bytes(path.read_bytes())
    assert main(["compare", str(baseline), str(change)]) == 0
    assert "no regression in 3 compared scenario(s)" in capsys.readouterr().out


def test_a_doctored_result_with_new_failures_fails_and_is_listed(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change = tmp_path / "change"
    scenario("no-hook", refused=40).write_json(change)
    scenario("prestop-exec", refused=7).write_json(change)  # the hook regressed
    scenario("prestop-sleep").write_json(change)
    assert main(["compare", str(baseline), str(change)]) == 1
    err = capsys.readouterr().err
    assert "1 regression(s) in 3 scenario(s)" in err
    assert "prestop-exec--delete-pod--keepalive: 0 of 1600 requests failed in the baseline" in err
    assert "7 of 1607 in the change (connection_refused 7)" in err
    assert "prestop-sleep" not in err.split("notes:")[0]


def test_a_hand_edited_json_file_counts_as_a_regression(baseline: Path, tmp_path: Path) -> None:
    # Doctor the file itself, as a reviewer might to check the gate.
    path = baseline / "prestop-sleep--delete-pod--keepalive.json"
    data = json.loads(path.read_text())
    data["counts"]["failed"] = 1
    data["counts"]["error_kinds"] = {"remote_disconnected": 1}
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    assert main(["compare", str(path), str(changed)]) == 1


def test_a_negative_control_that_fails_is_never_a_regression() -> None:
    clean_control = scenario("no-hook")  # a control that did not fail in the baseline
    failing_control = scenario("no-hook", refused=12)
    assert compare([clean_control], [failing_control]).ok
    comparison = compare([failing_control], [clean_control])
    assert comparison.ok
    assert comparison.notes == ["no-hook--delete-pod--keepalive: negative control no longer fails"]


def test_scenarios_in_only_one_run_are_noted_not_failed() -> None:
    comparison = compare([scenario("prestop-exec")], [scenario("prestop-sleep")])
    assert comparison.ok
    assert comparison.compared == 0
    assert comparison.notes == [
        "prestop-exec--delete-pod--keepalive: in the baseline only (not run in the change)",
        "prestop-sleep--delete-pod--keepalive: new in the change (no baseline)",
    ]


def test_an_improvement_is_noted() -> None:
    comparison = compare([scenario("prestop-exec", refused=3)], [scenario("prestop-exec")])
    assert comparison.ok
    assert comparison.notes == [
        "prestop-exec--delete-pod--keepalive: improved, 3 failed before, none now"
    ]


def test_results_round_trip_through_the_files(baseline: Path) -> None:
    results = load_results(baseline)
    assert [r.variant for r in results] == ["no-hook", "prestop-exec", "prestop-sleep"]
    assert results[1] == scenario("prestop-exec")


@pytest.mark.parametrize(
    "argv",
    [
        ["compare"],  # missing arguments
        ["compare", "/nonexistent/baseline", "/nonexistent/change"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse exits by itself on bad arguments
        code = int(exc.code or 0)
    assert code == 2
    assert capsys.readouterr().err


def test_a_directory_without_results_or_a_foreign_schema_is_a_usage_error(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", str(baseline), str(empty)]) == 2
    assert "no graceproof result JSON in the change" in capsys.readouterr().err
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"schema": "graceproof.result/v2"}))
    assert main(["compare", str(baseline), str(future)]) == 2
    assert "graceproof.result/v1" in capsys.readouterr().err
