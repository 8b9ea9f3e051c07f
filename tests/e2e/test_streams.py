"""WebSocket streams that span a termination: each user holds one, for the whole run.

The same hook (sleep 5) on both apps; they differ in what they do at SIGTERM:
- an app that exits at once cuts its streams (no close frame): each is a failure;
- an app that drains closes each stream cleanly (1001, going away); the client
  reconnects at once, through the Service, to another pod. The result says how many
  streams were cut and how long reconnecting took.
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

STREAMS = LoadSettings(connection="websocket", users=10, timeout_s=2.0)


def _app(shutdown_mode: str, node_port: int) -> SampleApp:
    return SampleApp(
        SleepHook(5),
        shutdown_mode=shutdown_mode,  # type: ignore[arg-type]
        replicas=2,
        node_port=node_port,
        protocols=("websocket",),
    )


def _report(result: ScenarioResult) -> str:
    return f"{result.headline()}; traffic {result.traffic}"


def test_an_app_that_exits_at_once_cuts_its_streams_despite_its_hook(prove: Prove) -> None:
    result = prove(Scenario(_app("immediate", 30082), load=STREAMS, expected="errors"))
    print(_report(result))
    assert result.verdict.passed, result.verdict.message
    t = result.traffic
    assert t is not None
    # Cut, not closed: no close frame came from the dying pods.
    assert t["cut"] > 0 and t["closed_by_server"] == 0, t
    assert set(result.counts.error_kinds) == {"stream_cut"}, result.counts.error_kinds
    assert result.counts.failed_in_windows == t["cut"]


def test_an_app_that_drains_closes_its_streams_and_clients_reconnect_elsewhere(
    prove: Prove,
) -> None:
    result = prove(Scenario(_app("drain", 30085), load=STREAMS))
    print(_report(result))
    assert result.counts.failed == 0 and result.counts.in_windows > 0, result.verdict.message
    assert result.verdict.passed
    t = result.traffic
    assert t is not None
    # Each terminated pod closed its streams with 1001; each client came back, on
    # another pod, and the reconnection time is measured.
    assert t["closed_by_server"] > 0 and t["close_codes"] == [1001], t
    assert t["reconnects"] == t["closed_by_server"], t
    assert t["reconnected_elsewhere"] == t["reconnects"], t
    assert t["reconnect_s"] is not None and t["reconnect_s"]["max"] < 2.0, t
