"""A negative control that reproduced nothing is attempted again (graceproof.controls):
its earlier attempts are kept as informative results that say so, the last one is
judged and names them, and a proof that nothing fails is never attempted again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from graceproof.action_log import DisruptionRecord
from graceproof.config import CONTROL_ATTEMPTS, OptionError, build_options
from graceproof.controls import after_attempts, attempted, reproduced_nothing, superseded
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
    # Its own verdict stays in the message (a gap of its timeline would be named there).
    assert kept.verdict.message.endswith(f"Its own verdict: {first.verdict.message}")
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


class Attempts:
    """`once`, `keep` and `release` for `attempted`, from results given in order."""

    def __init__(self, *results: ScenarioResult) -> None:
        self.results = list(results)
        self.ran: list[str] = []
        self.kept: list[ScenarioResult] = []
        self.released: list[str] = []

    def once(self) -> tuple[str, ScenarioResult]:
        namespace = f"ns{len(self.ran) + 1}"
        self.ran.append(namespace)
        return namespace, self.results[len(self.ran) - 1]

    def run(self, attempts: int = 3) -> ScenarioResult:
        return attempted(self.once, self.kept.append, self.released.append, attempts)


def test_a_control_is_attempted_until_it_reproduces_each_attempt_kept() -> None:
    a = Attempts(_result("errors", 0, "a"), _result("errors", 7, "b"), _result("errors", 9))
    judged = a.run()
    assert a.ran == ["ns1", "ns2"] and a.released == ["ns1"]
    assert [r.verdict.expected for r in a.kept] == ["informative", "errors"]
    assert a.kept[-1] is judged and judged.verdict.passed
    assert "attempt 2 of this negative control" in judged.verdict.message


def test_the_last_attempt_is_judged_as_it_is() -> None:
    a = Attempts(*(_result("errors", 0, n) for n in "abc"))
    judged = a.run()
    assert a.ran == ["ns1", "ns2", "ns3"] and a.released == ["ns1", "ns2"]
    assert not judged.verdict.passed and "attempt 3 of this negative control" in (
        judged.verdict.message
    )
    assert [r.verdict.expected for r in a.kept] == ["informative", "informative", "errors"]


def test_one_attempt_and_a_proof_that_nothing_fails_are_never_run_again() -> None:
    once = Attempts(_result("errors", 0))
    assert not once.run(attempts=1).verdict.passed and once.ran == ["ns1"]
    clean = Attempts(_result("no-errors", 0), _result("no-errors", 0))
    assert clean.run().verdict.passed and clean.ran == ["ns1"] and clean.released == []
    failed = Attempts(_result("no-errors", 3), _result("no-errors", 0))
    assert not failed.run().verdict.passed and failed.ran == ["ns1"]


def test_attempts_out_of_range_are_refused() -> None:
    for bad in (0, -1, 11):
        with pytest.raises(ValueError, match="control attempts must be 1 to 10"):
            Attempts(_result("errors", 0)).run(attempts=bad)
