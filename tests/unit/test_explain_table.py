"""The table of `graceproof explain` from fake runs: tallies and exact intervals, the
one-sided Fisher p against the original, the verdicts, pairs that cover each other,
the plan's cost and its refusals, and the table in text, Markdown and JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.action_log import DisruptionRecord
from graceproof.counts import Counts
from graceproof.disruptions import DeleteOneByOne, DrainNode, ScaleDown
from graceproof.errors import OptionError
from graceproof.explain import (
    COVER,
    KEEPS,
    MISSING,
    NO_EFFECT,
    NOT_APPLICABLE,
    NOT_RUN,
    Tally,
    explain,
    plan_explanation,
    protections_named,
    run_plan,
)
from graceproof.explain.table import compare
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.propagation import Propagation
from graceproof.report import write_report
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.sources import ManifestFiles
from graceproof.subject import Subject
from graceproof.workloads.manifests import ManifestWorkload

NGINX = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "manifests"
T0 = 1_764_400_000.0


def empty_result(scenario_id: str, variant: str) -> ScenarioResult:
    return ScenarioResult.build(
        Subject(scenario_id=scenario_id, variant=variant, connection="new", expected="informative"),
        Measurement(
            cluster=ClusterInfo("kind", "graceproof", "v1.34.0"),
            disruption=DisruptionRecord(kind="delete-one-by-one", started=T0),
            load={},
            records=[],
            timeline=[],
            started=T0,
            finished=T0 + 5,
        ),
    )


def fake_run(
    failures: dict[str, int],
    *,
    total: int = 2000,
    in_windows: int = 400,
    holds_from: float = 1,
    propagation: Propagation | None = None,
) -> tuple[Callable[[Scenario], ScenarioResult], list[Scenario]]:
    """A `run` that fails `failures[name]` requests (in windows) per run of a variant
    removing that protection (the sum for several), and records what it ran. A preStop
    sleep shortened below `holds_from` seconds fails as the hook removed does. Each
    result carries `propagation`."""
    ran: list[Scenario] = []

    def run(scenario: Scenario) -> ScenarioResult:
        ran.append(scenario)
        removed = scenario.workload.removed  # type: ignore[attr-defined]
        sleep = getattr(scenario.workload, "sleep_s", None)
        if sleep is not None and sleep < holds_from:
            removed = ("prestop-hook",)
        failed = sum(failures.get(name, 0) for name in removed or ("",))  # "": as written
        if len(removed) == 2:
            failed += failures.get("+".join(removed), 0)
        counts = Counts(total=total, failed=failed, in_windows=in_windows, failed_in_windows=failed)
        base = empty_result(scenario.scenario_id, scenario.workload.label)
        return dataclasses.replace(
            base,
            counts=counts,
            name=f"{scenario.scenario_id}-{len(ran)}",
            propagation=propagation,
        )

    return run, ran


def nginx(disruption: Any = None) -> Scenario:
    workload = ManifestWorkload.load(ManifestFiles((NGINX,)))
    return Scenario(workload, disruption=disruption or DeleteOneByOne())


def test_a_tally_sums_the_runs_with_the_exact_interval() -> None:
    run, _ = fake_run({"prestop-hook": 20})
    results = [run(plan_explanation(nginx()).variants[1].scenario) for _ in range(3)]
    tally = Tally.of(results)
    assert (tally.runs, tally.failed_in_windows, tally.in_windows) == (3, 60, 1200)
    bound = tally.bound
    assert bound.method == "clopper_pearson"  # exact, also at 0 failures
    assert bound.lo < 0.05 < bound.hi
    assert tally.describe().startswith("60 of 1,200 in windows, 5.00% [")
    zero = Tally(runs=3, total=6000, failed=0, in_windows=1200, failed_in_windows=0)
    assert zero.bound.method == "clopper_pearson" and zero.bound.hi == pytest.approx(
        0.003070, rel=1e-3
    )


def test_the_p_value_asks_whether_the_original_fails_less_than_the_variant() -> None:
    # scipy.stats.fisher_exact([[1, 3], [3, 1]], alternative="less") == 17/70: the
    # original 1 of 4, the variant 3 of 4.
    removed = Tally(runs=1, total=4, failed=3, in_windows=4, failed_in_windows=3)
    original = Tally(runs=1, total=4, failed=1, in_windows=4, failed_in_windows=1)
    assert compare(removed, original) == pytest.approx(17 / 70)
    # The dieting example: the original 1 of 10, the variant 11 of 14.
    removed = Tally(runs=1, total=14, failed=11, in_windows=14, failed_in_windows=11)
    original = Tally(runs=1, total=10, failed=1, in_windows=10, failed_in_windows=1)
    assert compare(removed, original) == pytest.approx(0.00137973, rel=1e-4)
    # A variant that fails less than the original is no evidence for the protection.
    assert compare(original, removed) > 0.99


def test_the_hook_keeps_requests_and_the_others_show_no_effect() -> None:
    run, ran = fake_run({"prestop-hook": 30})
    e = explain(nginx(), run, runs=3)
    hook = e.row("prestop-hook")
    assert hook.verdict == KEEPS and hook.p is not None and hook.p < 0.01
    assert hook.removed is not None and hook.removed.failed_in_windows == 90
    assert hook.change == "nginx: sleep 5 s"
    for name in ("readiness-probe", "grace-period"):
        assert e.row(name).verdict == NO_EFFECT and e.row(name).p == 1.0
    assert e.row("pdb").verdict == NOT_APPLICABLE
    assert "drain-node or evict" in e.row("pdb").note
    assert e.row("rolling-strategy").verdict == NOT_APPLICABLE
    # Neither readiness nor grace alone changes anything: the pair is removed too.
    pair = e.row("readiness-probe+grace-period")
    assert pair.verdict == NO_EFFECT and "removing both" in pair.note
    # 4 variants x 3 runs, then the pair x 3; in turn: original, a, b, c, original, ...
    # Then the sleep search: 2 s held, 1 s held (0 s, the hook removed, failed): 2 x 3.
    assert len(ran) == 21 == len(e.results)
    assert not isinstance(e.sleep, str) and e.sleep is not None
    assert (e.sleep.holding_s, e.sleep.failing_s) == (1, 0)
    labels = [s.workload.label for s in ran[:8]]
    assert labels[:4] == labels[4:8]
    assert {s.want for s in ran} == {"informative"}  # no run reads as a failure


def test_two_protections_that_cover_each_other_are_found_by_removing_both() -> None:
    run, _ = fake_run({"readiness-probe+grace-period": 25})
    e = explain(nginx(), run, runs=3)
    assert e.row("readiness-probe").verdict == NO_EFFECT
    assert e.row("grace-period").verdict == NO_EFFECT
    both = e.row("readiness-probe+grace-period")
    assert both.verdict == COVER and both.p is not None and both.p < 0.05
    assert "removing either alone" in both.note


def test_no_pair_runs_when_a_protection_alone_shows_its_effect() -> None:
    run, _ = fake_run({"prestop-hook": 30, "readiness-probe": 30, "grace-period": 30})
    e = explain(nginx(), run, runs=2)
    assert len([r for r in e.results if "prestop-sleep" not in r.variant]) == 8
    assert [r.protection for r in e.rows if "+" in r.protection] == []


def test_pairs_that_would_overrun_the_time_budget_are_skipped_and_named() -> None:
    run, ran = fake_run({})
    plan = plan_explanation(nginx(), runs=1, per_run_s=10.0)
    # Each run takes 10 s on this clock: 4 runs fit in 45 s, the 3 pair runs more do not.
    e = run_plan(plan, run, time_budget_s=45.0, clock=lambda: 10.0 * len(ran))
    assert len(ran) == 4
    skipped = [r for r in e.rows if r.verdict == NOT_RUN]
    assert {r.protection for r in skipped} == {
        "prestop-hook+readiness-probe",
        "prestop-hook+grace-period",
        "readiness-probe+grace-period",
    }
    assert any("skipped: the time budget" in n for n in e.notes)


def test_a_workload_without_any_protection_runs_only_the_baseline(tmp_path: Path) -> None:
    docs = [yaml.safe_load(p.read_text()) for p in sorted(NGINX.glob("*.yaml"))]
    docs = [d for d in docs if d["kind"] != "PodDisruptionBudget"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["strategy"] = {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    pod["terminationGracePeriodSeconds"] = 1
    for c in pod["containers"]:
        del c["readinessProbe"], c["lifecycle"]
    for i, d in enumerate(docs):
        (tmp_path / f"{i}.yaml").write_text(yaml.safe_dump(d))
    scenario = Scenario(ManifestWorkload.load(ManifestFiles((tmp_path,))))
    run, ran = fake_run({})
    e = explain(scenario, run, runs=2)
    assert len(ran) == 2 and {s.workload.label for s in ran} == {"files-deployment-web"}
    assert {r.verdict for r in e.rows} == {MISSING}
    assert "carries none of the protections" in " ".join(e.plan.notes)
    assert "note: deployment/web carries none" in "\n".join(e.lines())
    hook = e.row("prestop-hook")
    assert hook.note.startswith("no preStop hook")
    assert "drain-node or evict would show it" in e.row("pdb").note


def test_a_disruption_under_which_no_protection_applies_is_refused_naming_the_ones_that_would() -> (
    None
):
    with pytest.raises(OptionError) as info:
        plan_explanation(nginx(), protections=protections_named(["pdb", "rolling-strategy"]))
    text = str(info.value)
    assert "--disruption delete-one-by-one" in text
    assert "PodDisruptionBudget: drain-node or evict" in text
    assert "rollout-restart" in text


@pytest.mark.parametrize("runs", [0, -1])
def test_fewer_than_one_run_is_refused(runs: int) -> None:
    with pytest.raises(OptionError, match=r"--runs must be 1 or more .*not " + str(runs)):
        plan_explanation(nginx(), runs=runs)


def test_a_time_budget_the_plan_cannot_fit_says_how_long_it_needs() -> None:
    with pytest.raises(OptionError) as info:
        plan_explanation(nginx(), runs=3, time_budget_s=60, per_run_s=25.0)
    text = str(info.value)
    assert "about 5 min 0 s" in text and "12 runs" in text
    assert "--time-budget 300 or more" in text


def test_the_plan_says_its_cost_before_it_starts() -> None:
    plan = plan_explanation(nginx(DrainNode()), runs=3)
    assert plan.total_runs == 15  # original, hook, readiness, pdb, grace
    # 18 s + 1.5 s per replica + the 5 s hook: the estimate per run.
    assert plan.per_run_s == pytest.approx(27.5)
    text = "\n".join(plan.lines())
    assert "plan: 15 runs of about 28 s each, about 6 min 52 s" in text
    assert "up to 18 more runs" in text
    assert "rolling strategy (maxUnavailable 0): not applicable to drain-node" in text


def test_scale_down_does_not_exercise_the_readiness_probe() -> None:
    plan = plan_explanation(nginx(ScaleDown()), runs=1)
    assert [v.removed for v in plan.variants] == [(), ("prestop-hook",), ("grace-period",)]


def test_the_table_in_text_markdown_and_json(tmp_path: Path) -> None:
    run, _ = fake_run({"prestop-hook": 30})
    e = explain(nginx(), run, runs=3)
    lines = e.lines()
    assert lines[2] == "protection | removed -> failures in windows (95% interval) | p | verdict"
    assert any(line.startswith("preStop hook (nginx: sleep 5 s) | 90 of 1,200") for line in lines)
    md = e.markdown()
    assert "| protection | removed -> failures in windows (95% interval) | p | verdict |" in md
    assert "| keeps requests |" in md
    doc = json.loads(json.dumps(e.to_dict()))
    assert doc["schema"] == "graceproof.explain/v1" and doc["runs"] == 3
    hook = next(r for r in doc["rows"] if r["protection"] == "prestop-hook")
    assert hook["verdict"] == KEEPS and hook["removed"]["interval"]["k"] == 90
    assert doc["original"]["failed_in_windows"] == 0
    # summary.md: the explanation's table above the runs' table, no run failed.
    report = write_report(list(e.results), tmp_path, preface=md)
    summary = report.summary.read_text()
    assert summary.index("Which settings keep the requests") < summary.index("| scenario |")
    assert "**FAIL**" not in summary
    assert "0 of 0 scenarios passed. 21 more are informative" in summary
