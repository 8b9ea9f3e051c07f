"""gRPC: a channel is one HTTP/2 connection, held for the whole run.

Like keep-alive, a channel keeps reaching its pod while the preStop sleep runs and
kube-proxy sends new connections elsewhere; what its calls live through at SIGTERM is
the server's doing. Both cases below have the same hook (sleep 5) and differ only in
how the server stops:

- at once: the calls in flight fail (UNAVAILABLE: the connection broke), the hook
  notwithstanding;
- gracefully (grpcio's `server.stop(grace)`): GOAWAY, the calls in flight finish, the
  client opens a new connection through the Service: no call fails.

Unary calls wait 0.2 s at the server (`grpc_delay`) and streams last 1 s (10 messages,
0.1 s apart), so calls are in flight on most channels at any moment, as on a busy
service.
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

UNARY = LoadSettings(connection="grpc-unary", timeout_s=3.0, options={"grpc_delay": "0.2"})
STREAM = LoadSettings(connection="grpc-stream", timeout_s=3.0)


def _app(shutdown_mode: str, node_port: int) -> SampleApp:
    return SampleApp(
        SleepHook(5),
        shutdown_mode=shutdown_mode,  # type: ignore[arg-type]
        replicas=2,
        node_port=node_port,
        protocols=("grpc",),
    )


def _report(result: ScenarioResult) -> str:
    return f"{result.headline()}; traffic {result.traffic}"


@pytest.mark.parametrize("load", [UNARY, STREAM], ids=["unary", "stream"])
def test_a_grpc_server_that_stops_at_once_fails_the_calls_in_flight_despite_its_hook(
    prove: Prove, load: LoadSettings
) -> None:
    result = prove(Scenario(_app("immediate", 30082), load=load, expected="errors"))
    print(_report(result))
    assert result.connection == load.connection
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message
    # Every failed call is recorded with its status code: the connection broke under
    # it, so UNAVAILABLE (nothing is refused: new connections go to the other pod).
    assert result.traffic is not None
    codes = result.traffic["status_codes"]
    assert set(codes) - {"OK"} == {"UNAVAILABLE"}, codes
    assert set(result.counts.error_kinds) == {"grpc_unavailable"}


@pytest.mark.parametrize("load", [UNARY, STREAM], ids=["unary", "stream"])
def test_a_grpc_server_that_drains_with_goaway_fails_no_call(
    prove: Prove, load: LoadSettings
) -> None:
    result = prove(Scenario(_app("drain", 30085), load=load))
    print(_report(result))
    assert result.connection == load.connection
    assert result.counts.failed == 0 and result.counts.in_windows > 0, result.verdict.message
    assert result.verdict.passed
    assert result.traffic is not None and set(result.traffic["status_codes"]) == {"OK"}
    if load.connection == "grpc-stream":
        # Every stream got all its messages: the ones running at SIGTERM finished.
        assert result.traffic["short_streams"] == 0
        assert result.traffic["messages"] == 10 * result.counts.total
