"""A negative control that reproduced nothing is attempted again (graceproof.controls),
on the real cluster: the first attempt's namespace is emptied, its NodePort taken
again by the next, and every attempt is kept under a name of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from fixtures.proofs import ProofReport, Prove

from graceproof.disruptions import disruption_named
from graceproof.model import Expected
from graceproof.parameters import NOT_IN_ID
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp
from graceproof.workloads.base import DeployContext, Target, Workload

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class RaceWonOnce(Workload):
    """The sample app as a negative control whose first race goes the protected way:
    its first deployment has a preStop sleep (nothing can fail), every later one no
    hook. A stand-in for the race a real control loses now and then, made certain."""

    node_port: int = field(metadata=NOT_IN_ID)
    deployed: list[str] = field(default_factory=list, metadata=NOT_IN_ID, compare=False)

    signals: ClassVar[frozenset[str]] = SampleApp.signals
    uses_session_image: ClassVar[bool] = True

    @property
    def expected(self) -> Expected:
        return "errors"

    def deploy(self, ctx: DeployContext) -> Target:
        variant = "no-hook" if self.deployed else "prestop-sleep"
        self.deployed.append(variant)
        return SampleApp.variant(variant, node_port=self.node_port).deploy(ctx)


def test_a_control_that_reproduced_nothing_is_attempted_again_and_each_attempt_kept(
    prove: Prove, proof_report: ProofReport
) -> None:
    before = len(proof_report.results)
    workload = RaceWonOnce(node_port=30088)
    result = prove(Scenario(workload, disruption=disruption_named("scale-down")))
    assert workload.deployed == ["prestop-sleep", "no-hook"]
    first, last = proof_report.results[before:]
    assert last is result
    # The first attempt: measured (requests inside its windows, none failed), kept, and
    # informative, so a green run shows no red row for it.
    assert first.counts.in_windows > 0 and first.counts.failed_in_windows == 0
    assert first.verdict.expected == "informative" and first.verdict.passed
    assert "attempt 1 of 3" in first.verdict.message
    # The second reproduced the failures and is judged as the control, naming the first.
    assert result.verdict.expected == "errors" and result.verdict.passed, result.verdict.message
    assert result.counts.failed_in_windows > 0
    assert "attempt 2 of this negative control; before it, failed inside windows: " in (
        result.verdict.message
    )
    assert first.file_stem in result.verdict.message
    assert first.file_stem != result.file_stem
    for r in (first, result):
        assert (proof_report.directory / f"{r.file_stem}.json").is_file()
