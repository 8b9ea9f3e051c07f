"""The shortest preStop sleep that holds (graceproof.explain.sleep_search), from fake
runs: the hook's length read from its form and set to another, the search between 0
and the workload's own sleep that starts with the lag's proposal and halves what is
left, the runs already made reused, the reasons it does not search, and its report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from test_explain_protections import written
from test_explain_table import fake_run, nginx

from graceproof.disruptions import DeleteOneByOne
from graceproof.explain import explain, plan_explanation, protections_named, run_plan
from graceproof.explain.protections.prestop import own_sleep, with_sleep
from graceproof.explain.sleep_search import shortened
from graceproof.propagation import Lag, Propagation
from graceproof.report import write_explanation_report
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads.manifests import ManifestWorkload


def _hook(w: ManifestWorkload) -> Any:
    body = next(b for b in w.manifests() if b["kind"] == "Deployment")
    return body["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]


def _with_hook(tmp_path: Path, pre_stop: dict[str, Any]) -> ManifestWorkload:
    def change(docs: list[Any]) -> None:
        for d in docs:
            if d["kind"] == "Deployment":
                d["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"] = pre_stop

    tmp_path.mkdir(parents=True, exist_ok=True)
    return written(tmp_path, change)


def test_the_hooks_length_is_read_from_its_form(tmp_path: Path) -> None:
    w = nginx().workload
    assert isinstance(w, ManifestWorkload) and own_sleep(w.resolved) == 5
    shell = {"exec": {"command": ["sh", "-c", "echo stop > /stop.log && sleep 10"]}}
    assert own_sleep(_with_hook(tmp_path / "a", shell).resolved) == 10
    twice = {"exec": {"command": ["sh", "-c", "sleep 1; echo; sleep 2"]}}
    assert own_sleep(_with_hook(tmp_path / "b", twice).resolved) is None
    http = {"httpGet": {"path": "/drain", "port": 8080}}
    assert own_sleep(_with_hook(tmp_path / "c", http).resolved) is None


def test_a_shortened_sleep_changes_only_the_seconds(tmp_path: Path) -> None:
    w = nginx().workload
    assert isinstance(w, ManifestWorkload)
    s = shortened(w, 2)
    assert _hook(s) == {"sleep": {"seconds": 2}} and _hook(w) == {"sleep": {"seconds": 5}}
    assert s.changes == ("nginx: sleep 5 s -> 2 s",)
    assert s.label == "files-deployment-web-prestop-sleep-2s" and s.expected == "informative"
    shell = {"exec": {"command": ["sh", "-c", "echo stop > /stop.log && sleep 10"]}}
    w2 = _with_hook(tmp_path, shell)
    docs, change = with_sleep(w2.resolved, 3)
    body = next(d.body for d in docs if d.kind == "Deployment")
    hook = body["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]
    # The hook's other step stays: only the sleep is shorter.
    assert hook == {"exec": {"command": ["sh", "-c", "echo stop > /stop.log && sleep 3"]}}
    assert change == "nginx: sleep 10 s -> 3 s"


def _hook_only() -> Scenario:
    return nginx()


def test_the_search_halves_what_is_left_and_reports_both_ends() -> None:
    run, ran = fake_run({"prestop-hook": 30}, holds_from=3)
    e = explain(_hook_only(), run, runs=3, protections=protections_named(["prestop-hook"]))
    # The original and the hook removed (2 x 3), then 2 s (fails), 3 s (holds): 2 x 3.
    sleeps = [getattr(s.workload, "sleep_s", None) for s in ran]
    assert sleeps == [None] * 6 + [2, 2, 2, 3, 3, 3]
    found = e.sleep
    assert found is not None and not isinstance(found, str)
    assert (found.holding_s, found.failing_s, found.recommended_s) == (3, 2, 4)
    assert found.tried[2].failed_in_windows == 90 and found.tried[3].failed_in_windows == 0
    text = "\n".join(e.lines())
    assert "shortest preStop sleep that held: 3 s (0 of 1,200 in windows" in text
    assert "2 s failed (90 of 1,200" in text and "recommended: 4 s" in text
    doc = json.loads(json.dumps(e.to_dict()))["sleep_search"]
    assert (doc["holding_s"], doc["failing_s"], doc["own_s"]) == (3, 2, 5)
    assert [t["sleep_s"] for t in doc["tried"]] == [0, 2, 3, 5]
    assert [t["holds"] for t in doc["tried"]] == [False, False, True, True]
    assert "shortest preStop sleep that held" in e.markdown()


def test_the_search_starts_with_the_sleep_the_lag_proposes() -> None:
    # Five terminations whose last request came 0.4 s after the deletion: 2 x 0.4 + 1
    # rounds up to 2 s.
    lag = Propagation([Lag(f"p{i}", 0.1, since_deletion=0.4) for i in range(5)])
    run, ran = fake_run({"prestop-hook": 30}, holds_from=1, propagation=lag)
    e = explain(_hook_only(), run, runs=1, protections=protections_named(["prestop-hook"]))
    assert [getattr(s.workload, "sleep_s", None) for s in ran] == [None, None, 2, 1]
    assert e.sleep is not None and not isinstance(e.sleep, str)
    assert (e.sleep.proposed_s, e.sleep.holding_s, e.sleep.failing_s) == (2, 1, 0)
    assert "proposed from it: 2 s" in e.sleep.describe()
    assert "median 0.40 s, max 0.40 s over 5 terminations" in e.sleep.describe()


@pytest.mark.parametrize(
    ("failures", "protections", "why"),
    [
        ({"prestop-hook": 30}, ["readiness-probe"], "the preStop hook was not taken away"),
        ({}, ["prestop-hook"], "removing the hook showed no measurable effect"),
        # 1 failure in 2,000 against none: p = 0.5, no measurable effect either.
        ({"prestop-hook": 1}, ["prestop-hook"], "removing the hook showed no measurable effect"),
        ({"prestop-hook": 30, "": 1}, ["prestop-hook"], "the workload as written did not hold"),
    ],
)
def test_no_search_where_it_could_not_tell_anything(
    failures: dict[str, int], protections: list[str], why: str
) -> None:
    run, ran = fake_run(failures)
    e = explain(_hook_only(), run, runs=1, protections=protections_named(protections))
    assert isinstance(e.sleep, str) and why in e.sleep, e.sleep
    assert len(ran) == 2
    assert why in "\n".join(e.lines())


def test_no_search_for_a_hook_of_unknown_length(tmp_path: Path) -> None:
    http = {"httpGet": {"path": "/drain", "port": 8080}}
    w = _with_hook(tmp_path, http)
    run, ran = fake_run({"prestop-hook": 30})
    e = explain(Scenario(w, disruption=DeleteOneByOne()), run, runs=1,
                protections=protections_named(["prestop-hook"]))  # fmt: skip
    assert isinstance(e.sleep, str) and "not in its form" in e.sleep
    assert len(ran) == 2


def test_the_plan_says_what_the_search_may_cost() -> None:
    plan = plan_explanation(_hook_only(), runs=3, protections=protections_named(["prestop-hook"]))
    # 5 s: log2(5) rounded up, 3 halvings, and the proposal: 4 candidates x 3 runs.
    assert plan.sleep_candidates == 4
    assert "then up to 12 runs" in "\n".join(plan.lines())
    off = plan_explanation(_hook_only(), runs=3, protections=protections_named(["grace-period"]))
    assert off.sleep_candidates == 0


def test_the_search_is_drawn_beside_the_report(tmp_path: Path) -> None:
    lag = Propagation([Lag(f"p{i}", 0.1, since_deletion=0.4) for i in range(5)])
    run, _ = fake_run({"prestop-hook": 30}, holds_from=2, propagation=lag)
    e = explain(_hook_only(), run, runs=1, protections=protections_named(["prestop-hook"]))
    report = write_explanation_report(e, tmp_path)
    name = e.sleep_picture
    assert name == f"{e.results[0].file_stem}.sleep-search.png"
    assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    assert f"![the sleep search]({name})" in report.summary.read_text()
    assert e.to_dict()["sleep_picture"] == name
    # No search, no picture.
    run, _ = fake_run({})
    quiet = explain(_hook_only(), run, runs=1, protections=protections_named(["prestop-hook"]))
    assert quiet.sleep_picture is None


def test_a_split_sleep_command_is_shortened_too(tmp_path: Path) -> None:
    for i, command in enumerate((["sleep", "5"], ["/bin/sleep", "5s"])):
        w = _with_hook(tmp_path / str(i), {"exec": {"command": command}})
        assert own_sleep(w.resolved) == 5
        s = shortened(w, 2)
        assert _hook(s)["exec"]["command"] == [command[0], "2"]
        assert own_sleep(s.resolved) == 2


def test_below_a_fractional_sleep_the_last_whole_second_is_tried(tmp_path: Path) -> None:
    w = _with_hook(tmp_path, {"sleep": {"seconds": 2.5}})
    run, ran = fake_run({"prestop-hook": 30}, holds_from=2)
    e = explain(Scenario(w, disruption=DeleteOneByOne()), run, runs=1,
                protections=protections_named(["prestop-hook"]))  # fmt: skip
    assert [getattr(s.workload, "sleep_s", None) for s in ran] == [None, None, 1, 2]
    assert e.sleep is not None and not isinstance(e.sleep, str)
    assert (e.sleep.holding_s, e.sleep.failing_s, e.sleep.complete) == (2, 1, True)


def test_a_search_the_time_budget_cut_short_says_so() -> None:
    run, ran = fake_run({"prestop-hook": 30}, holds_from=3)
    plan = plan_explanation(
        _hook_only(), runs=1, protections=protections_named(["prestop-hook"]), per_run_s=10.0
    )
    # 10 s per run on this clock: the 2 runs of the ablation and one candidate fit in 35 s.
    e = run_plan(plan, run, time_budget_s=35.0, clock=lambda: 10.0 * len(ran))
    assert len(ran) == 3
    found = e.sleep
    assert found is not None and not isinstance(found, str) and not found.complete
    assert (found.failing_s, found.holding_s) == (2, 5)
    said = found.describe()
    assert said.startswith("sleep search stopped before its end (the time budget)")
    assert "between 2 s and 5 s" in said
    assert e.to_dict()["sleep_search"]["complete"] is False
    assert any("sleep search: 1 runs" in n for n in e.notes)


def test_a_candidate_whose_runs_told_nothing_stops_the_search() -> None:
    run, ran = fake_run({"prestop-hook": 30}, holds_from=1)

    def blind(scenario: Scenario) -> ScenarioResult:
        result = run(scenario)
        if getattr(scenario.workload, "sleep_s", None) == 2:
            empty = dataclasses.replace(result.counts, in_windows=0, failed_in_windows=0)
            return dataclasses.replace(result, counts=empty)
        return result

    e = explain(_hook_only(), blind, runs=1, protections=protections_named(["prestop-hook"]))
    assert [getattr(s.workload, "sleep_s", None) for s in ran] == [None, None, 2]
    found = e.sleep
    assert found is not None and not isinstance(found, str)
    assert found.blind == [2] and not found.complete
    assert "the runs of 2 s had no request inside a termination window" in found.describe()
