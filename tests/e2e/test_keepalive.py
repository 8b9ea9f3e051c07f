"""Keep-alive, a proof of its own: each user holds one connection and reuses it.

A preStop sleep keeps the pod serving while kube-proxy stops choosing it, but the
connections already open to it stay open: kube-proxy only routes new ones. What
happens to them at SIGTERM is the app's doing. Requests of 0.2 s (`/slow`) keep a
request in flight on most connections at any moment, as a busy service does.

- An app that exits at once resets its connections, and the requests on them fail,
  hook or not.
- An app that drains (finishes the requests in flight, answers them with
  `Connection: close`, closes its idle connections, then exits) loses none: the
  client opens its next connection, which kube-proxy sends to another pod.
"""

from __future__ import annotations

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
