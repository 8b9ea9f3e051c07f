"""Long-lived streams that span a termination, WebSocket and server-sent events: each
user holds one, for the whole run.

The same hook (sleep 5) on both apps; they differ in what they do at SIGTERM:
- an app that exits at once cuts its streams (no close frame, no `end` event): each is
  a failure;
- an app that drains ends each stream cleanly (WebSocket: a close frame with 1001, going
  away; SSE: its `end` event, then the end of the body); the client reconnects at once,
  through the Service, to another pod. The result says how many streams were cut and how
  long reconnecting took.
Each test runs once per protocol (`-k websocket`, `-k sse`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from graceproof.hooks import SleepHook
from graceproof.load import LoadSettings
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e

# The traffic kinds, each the name of the SampleApp protocol it enters.
KINDS = ["websocket", "sse"]


def _streams(kind: str) -> LoadSettings:
    return LoadSettings(connection=kind, users=10, timeout_s=2.0)


def _app(kind: str, shutdown_mode: str, node_port: int) -> SampleApp:
    return SampleApp(
        SleepHook(5),
        shutdown_mode=shutdown_mode,  # type: ignore[arg-type]
        replicas=2,
        node_port=node_port,
        protocols=(kind,),
    )


def _report(result: ScenarioResult) -> str:
    return f"{result.headline()}; traffic {result.traffic}"


def _ended_cleanly_by_the_server(kind: str, t: dict[str, Any]) -> None:
    """How the protocol says the server ended a stream: WebSocket's close code (1001,
    going away); SSE has none, its clean end is the `end` event (closed_by_server)."""
    if kind == "websocket":
        assert t["close_codes"] == [1001], t
    else:
        assert "close_codes" not in t, t


@pytest.mark.parametrize("kind", KINDS)
def test_an_app_that_exits_at_once_cuts_its_streams_despite_its_hook(
    prove: Prove, kind: str
) -> None:
    result = prove(Scenario(_app(kind, "immediate", 30082), load=_streams(kind), expected="errors"))
    print(_report(result))
    assert result.verdict.passed, result.verdict.message
    t = result.traffic
    assert t is not None
    # Cut, not ended: no close frame or `end` event came from the dying pods.
    assert t["cut"] > 0 and t["closed_by_server"] == 0, t
    assert set(result.counts.error_kinds) == {"stream_cut"}, result.counts.error_kinds
    assert result.counts.failed_in_windows == t["cut"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_app_that_drains_closes_its_streams_and_clients_reconnect_elsewhere(
    prove: Prove, kind: str
) -> None:
    result = prove(Scenario(_app(kind, "drain", 30085), load=_streams(kind)))
    print(_report(result))
    assert result.counts.failed == 0 and result.counts.in_windows > 0, result.verdict.message
    assert result.verdict.passed
    t = result.traffic
    assert t is not None
    # Each terminated pod ended its streams cleanly; each client came back, on another
    # pod, and the reconnection time is measured.
    assert t["closed_by_server"] > 0, t
    _ended_cleanly_by_the_server(kind, t)
    assert t["reconnects"] == t["closed_by_server"], t
    assert t["reconnected_elsewhere"] == t["reconnects"], t
    assert t["reconnect_s"] is not None and t["reconnect_s"]["max"] < 2.0, t
