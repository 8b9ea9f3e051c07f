"""A negative control that reproduced nothing is attempted again (graceproof.controls):
its earlier attempts are kept as informative results that say so, the last one is
judged and names them, and a proof that nothing fails is never attempted again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from graceproof.action_log import DisruptionRecord
from graceproof.config import CONTROL_ATTEMPTS, OptionError, build_options
from graceproof.controls import after_attempts, reproduced_nothing, superseded
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import Expected, RequestRecord
from graceproof.result import ScenarioResult
from graceproof.subject import Subject
from graceproof.verdict import judge

T0 = 1_700_000_000.0


def _result(expected: Expected, failed_in_windows: int, name: str = "r") -> ScenarioResult:
    measurement = Measurement(
        cluster=ClusterInfo(provider="kind", name="graceproof", kubernetes_version="v1.34.0"),
        disruption=DisruptionRecord(kind="scale-down", started=T0 + 1, finished=T0 + 2),
        load={"users": 1},
        records=[RequestRecord(T0 + i * 0.1, 0.01, True, 200, None, "web-1") for i in range(30)],
        timeline=[],
        started=T0,
        finished=T0 + 3,
    )
    subject = Subject(scenario_id=name, variant="no-hook", connection="new", expected=expected)
    res = ScenarioResult.build(subject, measurement)
    counts = replace(
        res.counts, in_windows=2255, failed_in_windows=failed_in_windows, failed=failed_in_windows
    )
    return replace(res, counts=counts, verdict=judge(expected, counts))


def test_only_a_control_that_reproduced_nothing_is_attempted_again() -> None:
    assert reproduced_nothing(_result("errors", 0))
    assert not reproduced_nothing(_result("errors", 3))
    # A proof that nothing fails is never attempted again, pass or fail.
    assert not reproduced_nothing(_result("no-errors", 0))
    assert not reproduced_nothing(_result("no-errors", 3))
    assert not reproduced_nothing(_result("informative", 0))


def test_an_attempt_followed_by_another_is_informative_and_says_why() -> None:
    first = _result("errors", 0)
    assert not first.verdict.passed  # judged alone, it fails
    kept = superseded(first, 1, 3)
    assert kept.verdict.expected == "informative" and kept.verdict.passed
    assert "attempt 1 of 3" in kept.verdict.message
    assert "0 of 2255 requests inside termination windows failed" in kept.verdict.message
    # Only the verdict changes: the counts stay what was measured.
    assert replace(kept, verdict=first.verdict) == first


def test_the_judged_attempt_names_the_earlier_ones() -> None:
    earlier = [_result("errors", 0, "a"), _result("errors", 0, "b")]
    last = after_attempts(_result("errors", 40, "c"), earlier)
    assert last.verdict.passed and last.verdict.expected == "errors"
    assert "attempt 3 of this negative control" in last.verdict.message
    assert "a: 0 of 2255; b: 0 of 2255" in last.verdict.message
    failed = after_attempts(_result("errors", 0, "c"), earlier)
    assert not failed.verdict.passed and "attempt 3" in failed.verdict.message
    alone = _result("errors", 40)
    assert after_attempts(alone, []) == alone


def test_the_attempts_option(tmp_path: Path) -> None:
    def attempts(**env: str) -> int:
        return build_options({}, env, cwd=tmp_path).control_attempts

    assert attempts() == CONTROL_ATTEMPTS == 3
    assert attempts(GRACEPROOF_CONTROL_ATTEMPTS="1") == 1
    for bad in ("0", "11", "two", "-1"):
        with pytest.raises(OptionError, match="--gp-control-attempts"):
            attempts(GRACEPROOF_CONTROL_ATTEMPTS=bad)
