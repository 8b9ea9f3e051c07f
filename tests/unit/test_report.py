"""Results, pictures, Markdown summary and JUnit properties, from a realistic synthetic run.

The synthetic run is a `kubectl rollout restart` of 3 replicas under ~120 req/s:
each old pod is deleted once its replacement is ready. Without a hook the app exits
at once and, for ~1.7 s after, kube-proxy still routes new connections to the dead
pod: those are refused. With a preStop hook the pod keeps serving until routing
has moved on, then drains: nothing fails.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from graceproof.action_log import DisruptionRecord
from graceproof.cli import main as cli_main
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord, TimelineEvent
from graceproof.proving import ProofOutcome, control_statement, outcome_json
from graceproof.report import build_report, junit_properties, pair_p_value, write_report
from graceproof.report.markdown import find_pairs, render_markdown, write_summary
from graceproof.report.picture import render_picture
from graceproof.result import (
    SCHEMA,
    ResultSchemaError,
    ScenarioResult,
    load_json,
    load_results,
)
from graceproof.subject import Subject
from graceproof.verdict import judge

T0 = 1_764_400_000.0
DURATION = 30.0
RATE = 120.0  # requests/s
PROXY_LAG = 1.7  # s during which a deleted pod still receives new connections
CLUSTER = ClusterInfo(provider="kind", name="graceproof", kubernetes_version="v1.34.0")


def synthetic_run(
    variant: str, *, seed: int = 1, hook_s: float = 5.0
) -> tuple[list[RequestRecord], list[TimelineEvent]]:
    rng = random.Random(seed)
    events: list[TimelineEvent] = []

    def ev(t: float, kind: str, pod: str | None, **detail: object) -> None:
        events.append(TimelineEvent(t=T0 + t, kind=kind, pod=pod, detail=dict(detail)))

    ev(4.0, "disruption", None, action="rollout-restart")
    serving: dict[str, tuple[float, float]] = {f"web-{i}": (-60.0, 1e9) for i in (1, 2, 3)}
    exits: dict[str, float] = {}
    for n, (old, new) in enumerate((("web-1", "web-4"), ("web-2", "web-5"), ("web-3", "web-6"))):
        created = 4.5 + 6 * n
        deleted = created + 2.0
        ev(created, "pod_created", new)
        ev(deleted - 0.05, "pod_ready", new)
        ev(deleted - 0.04, "endpoint_ready", new)
        serving[new] = (deleted, 1e9)
        ev(deleted, "pod_deleted", old)
        ev(deleted + 0.05, "endpoint_not_ready", old)
        if variant == "no-hook":
            stop = deleted + 0.08
        else:
            ev(deleted + 0.1, "hook_start", old, hook="http")
            ev(deleted + 0.1 + hook_s, "hook_end", old, hook="http")
            stop = deleted + 0.1 + hook_s
        ev(stop, "sigterm", old)
        exit_t = stop + (0.01 if variant == "no-hook" else 0.3)
        ev(exit_t, "app_exit", old)
        ev(exit_t + 0.3, "container_terminated", old, reason="Completed", exit_code=0)
        ev(deleted + 0.6, "endpoint_removed", old)
        ev(exit_t + 0.9, "pod_gone", old)
        serving[old] = (serving[old][0], deleted + PROXY_LAG)  # routed to until then
        exits[old] = exit_t
    records = []
    t = T0
    while (t := t + rng.expovariate(RATE)) < T0 + DURATION:
        dt = t - T0
        pod = rng.choice([p for p, (a, b) in serving.items() if a <= dt < b])
        if pod in exits and dt >= exits[pod]:
            records.append(
                RequestRecord(t, rng.uniform(0.0002, 0.001), False, 0, "connection_refused")
            )
        else:
            records.append(RequestRecord(t, rng.uniform(0.002, 0.02), True, 200, None, pod))
    if variant == "no-hook":  # requests in flight when each app exited are cut
        for exit_t in exits.values():
            records.append(RequestRecord(T0 + exit_t - 0.01, 0.01, False, 0, "remote_disconnected"))
    return sorted(records, key=lambda r: r.t), sorted(events, key=lambda e: e.t)


def build(variant: str, *, connection: str = "new", seed: int = 1) -> ScenarioResult:
    records, timeline = synthetic_run(variant, seed=seed)
    return ScenarioResult.build(
        Subject(
            scenario_id=f"{variant}--rollout-restart--{connection}",
            variant=variant,
            connection=connection,
            expected="errors" if variant == "no-hook" else "no-errors",
        ),
        Measurement(
            cluster=CLUSTER,
            disruption=DisruptionRecord(
                kind="rollout-restart", started=T0 + 4.0, finished=T0 + 25.0
            ),
            load={"users": 6, "duration_s": DURATION, "path": "/", "timeout_s": 2.0},
            records=records,
            timeline=timeline,
            started=T0,
            finished=T0 + DURATION + 1,
        ),
    )


@pytest.fixture(scope="module")
def no_hook() -> ScenarioResult:
    return build("no-hook")


@pytest.fixture(scope="module")
def hooked() -> ScenarioResult:
    return build("prestop-http")


def test_the_negative_control_fails_at_the_deletions_and_passes_as_expected(
    no_hook: ScenarioResult,
) -> None:
    c = no_hook.counts
    assert len(no_hook.windows) == 3
    assert c.failed > 100
    assert c.failed_in_windows == c.failed
    assert set(c.error_kinds) == {"connection_refused", "remote_disconnected"}
    assert no_hook.verdict.passed
    assert no_hook.verdict.message.startswith("negative control reproduced")
    assert no_hook.stats["overall"].method == "clopper_pearson"


def test_the_hook_variant_drops_nothing_and_passes(hooked: ScenarioResult) -> None:
    assert hooked.counts.failed == 0
    assert hooked.counts.in_windows > 1000  # the windows span the 5 s hooks
    assert hooked.verdict.passed
    assert hooked.stats["overall"].method == "rule_of_three"
    assert hooked.stats["overall"].hi == pytest.approx(3 / hooked.counts.total)


def test_the_headline_gives_the_figures_of_the_proof(
    no_hook: ScenarioResult, hooked: ScenarioResult
) -> None:
    c = no_hook.counts
    assert c.failed and c.failed_in_windows
    kinds = ", ".join(f"{k} {v}" for k, v in c.error_kinds.items())
    # Then by where they failed (graceproof.failures).
    kinds += "; " + ", ".join(f"{k} {v}" for k, v in c.classes.items())
    assert c.classes["stale_endpoint"] == c.error_kinds["connection_refused"]
    assert no_hook.headline() == (
        f"no-hook--rollout-restart--new (new): {c.failed} of {c.total} failed ({kinds}), "
        f"{c.failed_in_windows} of {c.in_windows} inside {c.windows} termination windows "
        f"(error rate in windows {no_hook.stats['in_windows'].describe()})"
    )
    h = hooked.counts
    assert hooked.headline().startswith(
        f"prestop-http--rollout-restart--new (new): 0 of {h.total} failed, 0 of {h.in_windows} "
    )
    assert "< " in hooked.headline()  # a bound, not a rate, for zero failures


def test_a_clean_run_that_never_overlapped_a_termination_proves_nothing() -> None:
    records, _ = synthetic_run("prestop-http")
    result = ScenarioResult.build(
        Subject(
            scenario_id="no-disruption",
            variant="prestop-http",
            connection="new",
            expected="no-errors",
        ),
        Measurement(
            cluster=CLUSTER,
            disruption=DisruptionRecord(kind="delete-pod", started=T0 + 100),
            load={},
            records=records,
            timeline=[],
            started=T0,
            finished=T0 + DURATION,
        ),
    )
    assert not result.verdict.passed
    assert "did not cover the disruption" in result.verdict.message


def test_judge_fails_a_negative_control_that_did_not_fail(hooked: ScenarioResult) -> None:
    verdict = judge("errors", hooked.counts)
    assert not verdict.passed
    assert "cannot show what a hook changes" in verdict.message


def test_an_informative_result_passes_unjudged_and_says_so(no_hook: ScenarioResult) -> None:
    verdict = judge("informative", no_hook.counts)
    assert verdict.passed and verdict.expected == "informative"
    c = no_hook.counts
    assert verdict.message.startswith(
        f"informative, not judged: {c.failed} of {c.total} requests failed, "
        f"{c.failed_in_windows} of {c.in_windows} inside termination windows"
    )


def test_a_green_summary_with_an_informative_result_shows_no_fail_row(
    no_hook: ScenarioResult, hooked: ScenarioResult
) -> None:
    shown = dataclasses.replace(
        hooked, verdict=judge("informative", no_hook.counts), scenario_id="shown"
    )
    text = render_markdown([no_hook, hooked, shown])
    assert "2 of 2 scenarios passed. 1 more is informative, not judged." in text
    assert "FAIL" not in text
    assert "| informative (not judged) |" in text


def test_the_json_round_trip_keeps_everything(tmp_path: Path, no_hook: ScenarioResult) -> None:
    path = no_hook.write_json(tmp_path / "results")
    assert path.name == "no-hook--rollout-restart--new.json"
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA == "graceproof.result/v1"
    assert data["verdict"]["expected"] == "errors"
    assert data["cluster"]["kubernetes_version"] == "v1.34.0"
    assert load_json(path) == no_hook


def test_load_json_refuses_other_schemas_and_malformed_files(
    tmp_path: Path, no_hook: ScenarioResult
) -> None:
    data = no_hook.to_dict()
    cases = {
        "v2.json": json.dumps({**data, "schema": "graceproof.result/v2"}),
        "missing.json": json.dumps({k: v for k, v in data.items() if k != "counts"}),
        "list.json": "[]",
        "broken.json": "{",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ResultSchemaError):
            load_json(tmp_path / name)


def test_load_results_reads_a_directory_and_skips_foreign_json(
    tmp_path: Path, no_hook: ScenarioResult, hooked: ScenarioResult
) -> None:
    no_hook.write_json(tmp_path)
    hooked.write_json(tmp_path)
    (tmp_path / "locust_stats.json").write_text('[{"name": "/"}]')
    (tmp_path / "notes.json").write_text('{"schema": "something-else"}')
    results = load_results(tmp_path)
    assert [r.scenario_id for r in results] == [
        "no-hook--rollout-restart--new",
        "prestop-http--rollout-restart--new",
    ]
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path / "absent")


def test_the_hook_is_paired_with_its_no_hook_control(
    no_hook: ScenarioResult, hooked: ScenarioResult
) -> None:
    keepalive_control = build("no-hook", connection="keepalive")
    pairs = find_pairs([no_hook, hooked, keepalive_control])
    assert pairs == {hooked.scenario_id: no_hook}  # same disruption and connection policy
    assert pair_p_value(no_hook, hooked) < 1e-10


def test_markdown_has_a_row_per_scenario_with_figures_and_links(
    no_hook: ScenarioResult, hooked: ScenarioResult
) -> None:
    text = render_markdown([no_hook, hooked], pictures={no_hook.scenario_id: "no-hook.png"})
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # header and two scenarios
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]
    control, hook = (dict(zip(header, row, strict=True)) for row in cells)
    assert control["variant"] == "no-hook"
    assert control["failed"] == str(no_hook.counts.failed)
    c = no_hook.counts
    by_class = ", ".join(f"{k} {v}" for k, v in c.classes_in_windows.items())
    assert control["failed in windows"] == f"{c.failed_in_windows} ({by_class})"
    assert hook["failed in windows"] == "0"
    assert control["picture"] == "[png](no-hook.png)"
    assert control["p vs no-hook"] == ""
    assert hook["requests"] == str(hooked.counts.total)
    assert hook["error rate (95%)"].endswith("(95%, rule of three)")
    assert float(hook["p vs no-hook"]) < 1e-10
    assert hook["verdict"] == "pass (expected no-errors)"
    assert "2 of 2 scenarios passed." in text


def test_the_summary_is_appended_to_the_github_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hooked: ScenarioResult
) -> None:
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    path = write_summary([hooked], tmp_path / "out")
    assert path.read_text().startswith("## graceproof results")
    content = step_summary.read_text()
    assert content.startswith("# earlier step\n## graceproof results")
    assert hooked.scenario_id in content


def test_the_job_summary_names_each_picture_instead_of_a_relative_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hooked: ScenarioResult
) -> None:
    # A job page resolves [png](x.png) against github.com: a broken link there.
    step_summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    pictures = {hooked.file_stem: "hooked.png"}
    path = write_summary([hooked], tmp_path / "out", pictures=pictures)
    assert "[png](hooked.png)" in path.read_text()  # next to the file, the link works
    content = step_summary.read_text()
    assert "](" not in content
    assert "`hooked.png`" in content
    assert f"in `{tmp_path / 'out'}/` with summary.md" in content
    assert "artifacts" in content


def test_the_picture_is_a_png(tmp_path: Path, no_hook: ScenarioResult) -> None:
    path = render_picture(no_hook, tmp_path / "no-hook.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # bars, markers and legend, not an empty canvas


def test_the_picture_of_a_run_without_requests_still_renders(tmp_path: Path) -> None:
    empty = ScenarioResult.build(
        Subject(scenario_id="empty", variant="no-hook", connection="new", expected="errors"),
        Measurement(
            cluster=CLUSTER,
            disruption=DisruptionRecord(kind="delete-pod", started=T0),
            load={},
            records=[],
            timeline=[],
            started=T0,
            finished=T0 + 5,
        ),
    )
    assert render_picture(empty, tmp_path / "empty.png").stat().st_size > 0


def test_junit_properties_carry_the_key_figures(no_hook: ScenarioResult) -> None:
    props = dict(junit_properties(no_hook))
    assert props["graceproof.variant"] == "no-hook"
    assert props["graceproof.requests"] == str(no_hook.counts.total)
    assert props["graceproof.failed_in_windows"] == str(no_hook.counts.failed_in_windows)
    assert props["graceproof.passed"] == "true"
    assert props["graceproof.error_kinds"].startswith("connection_refused=")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in junit_properties(no_hook))


def test_report_rebuilds_summary_and_pictures_from_json(
    tmp_path: Path, no_hook: ScenarioResult, hooked: ScenarioResult
) -> None:
    no_hook.write_json(tmp_path)
    hooked.write_json(tmp_path)
    report = build_report(tmp_path)
    assert report.summary == tmp_path / "summary.md"
    assert sorted(p.name for p in report.pictures.values()) == [
        "no-hook--rollout-restart--new.png",
        "prestop-http--rollout-restart--new.png",
    ]
    assert "[png](prestop-http--rollout-restart--new.png)" in report.summary.read_text()


def test_the_report_command_exits_0_and_2_for_a_directory_without_results(
    tmp_path: Path, hooked: ScenarioResult, capsys: pytest.CaptureFixture[str]
) -> None:
    hooked.write_json(tmp_path / "run")
    assert cli_main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "summary.md").exists()
    (tmp_path / "empty").mkdir()
    assert cli_main(["report", str(tmp_path / "empty")]) == 2
    assert "no graceproof result" in capsys.readouterr().err


def test_write_report_puts_everything_in_one_folder(
    tmp_path: Path, no_hook: ScenarioResult
) -> None:
    report = write_report([no_hook], tmp_path / "artifacts")
    assert {p.name for p in (tmp_path / "artifacts").iterdir()} == {
        "summary.md",
        "no-hook--rollout-restart--new.png",
    }
    assert report.pictures[no_hook.scenario_id].exists()


def test_the_control_statement_credits_the_hook_only_when_the_hooked_run_held(
    no_hook: ScenarioResult, hooked: ScenarioResult
) -> None:
    held = control_statement(no_hook, hooked)
    assert held.endswith("; with it, none did: the hook is what keeps them")
    # A hooked run that failed as well: the hook is not what keeps them.
    also_failed = dataclasses.replace(
        hooked,
        counts=dataclasses.replace(hooked.counts, failed=7, failed_in_windows=7),
        verdict=dataclasses.replace(hooked.verdict, passed=False),
    )
    statement = control_statement(no_hook, also_failed)
    assert "the hook is what keeps them" not in statement
    # Judged on the counts: a budget that passes a run which lost requests changes nothing.
    within_budget = dataclasses.replace(
        also_failed, verdict=dataclasses.replace(hooked.verdict, passed=True)
    )
    assert control_statement(no_hook, within_budget) == statement
    assert statement.endswith(
        f"; with it, 7 of {hooked.counts.in_windows} failed: the hook does not keep them all"
    )
    # A control that lost nothing shows nothing about the hook.
    clean = control_statement(hooked, hooked)
    assert "This run does not show what the hook is worth" in clean


def test_an_outcome_without_a_control_says_why_and_speaks_of_no_hook(
    hooked: ScenarioResult,
) -> None:
    unhooked = dataclasses.replace(
        hooked,
        variant="",
        parameters={"workload": {"type": "ManifestWorkload", "prestop_hooks": 0}},
    )
    why = "no negative control: deployment/web has no preStop hook, so there is none to remove"
    lines = ProofOutcome(hooked=unhooked, control=None, no_control=why).lines()
    assert lines[0].startswith("PROVEN: ")
    assert lines[-1] == why
    assert "shutdown: no preStop hook: the app's own shutdown kept each pod running" in lines[2]
    for credit in ("with the hook", "the hook is", "without the preStop hook"):
        assert not any(credit in line for line in lines), lines


def test_the_json_outcome_carries_both_runs_and_the_statement(
    no_hook: ScenarioResult, hooked: ScenarioResult, tmp_path: Path
) -> None:
    doc = outcome_json(
        ProofOutcome(hooked=hooked, control=no_hook), tmp_path, tmp_path / "summary.md"
    )
    json.dumps(doc)  # serialisable as it is
    assert doc["proven"] is True and doc["verdict"] == "PROVEN"
    assert doc["hooked"]["counts"]["failed"] == 0
    assert doc["hooked"]["bound"]["text"] == hooked.stats["overall"].describe()
    assert doc["hooked"]["result"] == str(tmp_path / f"{hooked.file_stem}.json")
    assert doc["control"]["counts"]["failed_in_windows"] == no_hook.counts.failed_in_windows
    assert doc["control_statement"] == control_statement(no_hook, hooked)
    alone = outcome_json(ProofOutcome(hooked=hooked, control=None), tmp_path, tmp_path / "s.md")
    assert alone["control"] is None
    assert alone["control_statement"] == "no negative control was run (--no-control)"
