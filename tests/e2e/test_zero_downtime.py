"""The zero-downtime proof: the same workload with and without a preStop hook, under
load, while its pods are terminated; the no-hook variant must show errors (the
negative control), every hook variant none."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graceproof.disruptions import disruption_named
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e


def _check(result: ScenarioResult) -> None:
    c = result.counts
    assert c.total > 0, "no request was made"
    assert c.in_windows > 0, "no request fell inside a termination window"
    assert result.verdict.passed, result.verdict.message


@pytest.mark.parametrize(
    "variant, disruption, node_port",
    [
        ("no-hook", "delete-one-by-one", 30082),
        ("prestop-exec", "delete-one-by-one", 30083),
        ("prestop-http", "delete-one-by-one", 30084),
        ("prestop-sleep", "delete-one-by-one", 30085),
        ("no-hook", "rollout-restart", 30086),
        ("prestop-sleep", "rollout-restart", 30087),
        ("no-hook", "scale-down", 30088),
        ("prestop-exec", "scale-down", 30089),
    ],
)
def test_variant_under_disruption(
    prove: Prove, variant: str, disruption: str, node_port: int
) -> None:
    result = prove(
        Scenario(
            SampleApp.variant(variant, node_port=node_port),
            disruption=disruption_named(disruption),
        )
    )
    # The default parameters keep the readable id that earlier reports used.
    assert result.scenario_id == f"{variant}--{disruption}--new"
    _check(result)
    if variant == "no-hook":
        assert result.counts.failed_in_windows > 0
        # New connections to a pod whose app is gone: refused or never connected
        # (graceproof.failures's stale endpoint), or, behind kind's docker-proxy, taken
        # by the proxy and closed without a byte of answer (dropped), as is a request
        # in flight at the exit. Nothing is left unplaced. (Seen over 29 runs: only
        # these two; on kind all 50 of one run dropped.)
        where = result.counts.classes_in_windows
        assert set(where) <= {"stale_endpoint", "dropped"}, where
    else:
        assert result.counts.failed == 0
        # The bound that zero errors in n requests allows (rule of three).
        assert result.stats["overall"].hi <= 3.0 / result.counts.total + 1e-12
