"""The least grace period the runs as written needed (graceproof.explain.grace_need),
read from their timelines: from each pod's deletion to its container's end, rounded
up plus 1 s; a pod killed at the end of its grace period says the grace is too short."""

from __future__ import annotations

import dataclasses
import json

from test_explain_table import T0, empty_result, fake_run, nginx

from graceproof.explain import explain, plan_explanation, protections_named
from graceproof.explain.grace_need import grace_needed
from graceproof.model import TerminationWindow, TimelineEvent
from graceproof.result import ScenarioResult


def _ended(lived: list[float], code: int = 0) -> ScenarioResult:
    windows = [
        TerminationWindow(f"p{i}", T0 + 10 * i, T0 + 10 * i + s) for i, s in enumerate(lived)
    ]
    timeline = [
        TimelineEvent(w.end, "container_terminated", w.pod, {"exit_code": code}) for w in windows
    ]
    base = empty_result("x", "files-deployment-web")
    return dataclasses.replace(base, windows=windows, timeline=timeline)


def test_the_least_grace_covers_the_longest_termination_with_a_second_to_spare() -> None:
    plan = plan_explanation(nginx(), runs=2)
    found = grace_needed(plan, {(): [_ended([5.2, 5.9]), _ended([5.4])]})
    assert not isinstance(found, str)
    assert (found.own_s, found.least_s, found.killed) == (30, 7, 0)
    text = found.describe()
    assert "median 5.4 s, at most 5.9 s over 3 terminations" in text
    assert "a terminationGracePeriodSeconds of 7 s covers hook and drain" in text
    assert "(the workload's: 30 s)" in text
    doc = json.loads(json.dumps(found.to_dict()))
    assert (doc["least_s"], doc["lived_max_s"], doc["terminations"]) == (7, 5.9, 3)


def test_a_pod_killed_at_the_end_of_its_grace_says_the_grace_is_too_short() -> None:
    plan = plan_explanation(nginx(), runs=1)
    found = grace_needed(plan, {(): [_ended([30.4], code=137)]})
    assert not isinstance(found, str) and found.killed == 1
    assert "does not cover its hook and drain" in found.describe()


def test_without_a_seen_end_it_says_so() -> None:
    plan = plan_explanation(nginx(), runs=1)
    assert grace_needed(plan, {(): [empty_result("x", "y")]}) == (
        "grace period: no pod's end was seen in the runs as written"
    )


def test_an_explanation_carries_it() -> None:
    run, _ = fake_run({"prestop-hook": 30})
    e = explain(nginx(), run, runs=1, protections=protections_named(["readiness-probe"]))
    assert e.grace == "grace period: no pod's end was seen in the runs as written"
    assert e.grace in e.lines() and e.to_dict()["grace"] == {"note": e.grace}
