"""Keep-alive, a proof of its own: each user holds one connection and reuses it.

A preStop sleep keeps the pod serving while kube-proxy stops choosing it, but the
connections already open to it stay open: kube-proxy only routes new ones. What
happens to them at SIGTERM is the app's doing. Requests of 0.2 s (`/slow`) keep a
request in flight on most connections at any moment, as a busy service does.

- An app that exits at once resets its connections, and the requests on them fail,
  hook or not.
- An app that drains (finishes the requests in flight, answers each connection's
  next request with `Connection: close`, closes those left idle a second later, then
  exits) loses none: the client opens its next connection, which kube-proxy sends to
  another pod. Repeated: the keep-alive race of an idle connection closed as a request
  goes out is the one failure it could have, and it would be classified `retryable`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from graceproof.hooks import SleepHook
from graceproof.load import LoadSettings
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e

KEEPALIVE = LoadSettings(connection="keepalive", path="/slow?seconds=0.2", timeout_s=3.0)


def _report(result: ScenarioResult) -> str:
    return result.headline()


def test_an_app_that_exits_at_once_resets_reused_connections_despite_its_hook(
    prove: Prove,
) -> None:
    result = prove(
        Scenario(
            SampleApp(SleepHook(5), shutdown_mode="immediate", replicas=2, node_port=30080),
            load=KEEPALIVE,
            expected="errors",
        )
    )
    print(_report(result))
    assert result.connection == "keepalive"
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message
    # The failures are the connections' own: cut, not refused (nothing is refused
    # while the hook runs and kube-proxy sends new connections elsewhere).
    kinds = set(result.counts.error_kinds_in_windows)
    assert kinds <= {"connection_reset", "remote_disconnected"}, kinds
    # By where (graceproof.failures): closed before any byte of the answer on a reused
    # connection (retryable: from the client's side a request the app had and dropped
    # at its exit looks the same as one sent as an idle connection closed), no answer
    # in time (dropped), or cut after part of the answer; none unplaced, none refused.
    # (Seen: 10 of 10 retryable.)
    where = result.counts.classes_in_windows
    assert set(where) <= {"cut", "retryable", "dropped"} and sum(where.values()) > 0, where


def test_an_app_that_drains_keeps_every_request_on_reused_connections(prove: Prove) -> None:
    result = prove(
        Scenario(
            SampleApp(SleepHook(5), shutdown_mode="drain", replicas=2, node_port=30081),
            load=KEEPALIVE,
        )
    )
    print(_report(result))
    assert result.connection == "keepalive"
    assert result.counts.failed == 0 and result.counts.in_windows > 0, result.verdict.message
    assert result.verdict.passed


# Five in .ci/run; GRACEPROOF_KEEPALIVE_RUNS=20 for the measurement of the README.
KEEPALIVE_RUNS = int(os.environ.get("GRACEPROOF_KEEPALIVE_RUNS", "5"))


@pytest.mark.parametrize("run", range(KEEPALIVE_RUNS))
def test_the_keepalive_drain_repeated_leaves_no_unclassified_failure(
    prove: Prove, run: int
) -> None:
    """The draining app behind a preStop sleep, with keep-alive clients making short
    requests (most connections idle between two), five times: no failure at all, or
    only the keep-alive race (`retryable`), never one graceproof cannot place."""
    result = prove(
        Scenario(
            SampleApp(SleepHook(3), shutdown_mode="drain", replicas=2, node_port=30082),
            load=LoadSettings(connection="keepalive"),
            count_retryable=False,
        )
    )
    print(_report(result))
    c = result.counts
    assert c.in_windows > 0 and c.windows_covered == c.windows, result.verdict.message
    assert c.failed == 0, f"failures other than retryable ones: {c.classes}"
    assert result.verdict.passed, result.verdict.message
