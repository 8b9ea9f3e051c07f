"""`lifecycle.stopSignal` (KEP-4960, alpha behind the ContainerStopSignals gate, which
hack/local-cluster.sh turns on), proven on the cluster with Debian's nginx in front of
the sample app (graceproof.workloads.sidecar): nginx takes SIGTERM as a fast shutdown,
which cuts the requests in flight, and SIGQUIT as a graceful one, which finishes them.

Every request takes SLOW_S in the app, so requests are in flight when nginx gets its
signal; nginx's preStop sleep (PROXY_SLEEP_S) lets the endpoint go first, so no new
connection reaches it after, and the app's longer sleep keeps it serving meanwhile.

- without a stopSignal (SIGTERM): the in-flight requests are cut (the control);
- with `stopSignal: SIGQUIT`: what happens depends on the container runtime, which
  the API server cannot know. A runtime that knows the field (containerd 2.3 and
  later: containerd#11774) sends SIGQUIT and no request fails. One that does not
  (containerd 1.6, this machine's local cluster) still sends SIGTERM: the API
  accepted the field, the pod shows it, and the requests are cut as without it. That
  is the finding the proof reports, from nginx's own log of the signal it got.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from graceproof.hooks import SleepHook
from graceproof.kube import Kube
from graceproof.load import LoadSettings
from graceproof.model import Expected
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads.sidecar import ProxiedApp

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e

SLOW_S = 3
PROXY_SLEEP_S = 2
APP_SLEEP_S = 8
LOAD = LoadSettings(users=16, path=f"/slow?seconds={SLOW_S}", timeout_s=SLOW_S + 5)


@pytest.fixture
def nginx_image(nginx_image_args: list[str]) -> None:
    """The nginx example's image in the cluster (tests/conftest.py)."""


def _runtime(kube: Kube) -> tuple[str, tuple[int, ...]]:
    """The nodes' container runtime ('containerd://1.6.20~ds1') and its version."""
    runtimes = {n.status.node_info.container_runtime_version for n in kube.core.list_node().items}
    assert len(runtimes) == 1, f"nodes run different runtimes: {runtimes}"
    runtime = runtimes.pop()
    m = re.match(r"^containerd://v?(\d+)\.(\d+)", runtime)
    return runtime, (int(m.group(1)), int(m.group(2))) if m else ()


def _signals(result: ScenarioResult) -> list[str]:
    """The first signal each deleted pod's nginx logged, but SIGCHLD (its workers'
    exits): the one the runtime stopped it with."""
    first: dict[str, str] = {}
    deleted = {w.pod for w in result.windows}
    for e in sorted(result.timeline, key=lambda e: e.t):
        if (
            e.kind == "container_signal"
            and e.pod in deleted
            and e.detail["container"] == "proxy"
            and e.detail["signal"] != "SIGCHLD"
        ):
            first.setdefault(str(e.pod), str(e.detail["signal"]))
    return list(first.values())


def _report(result: ScenarioResult, runtime: str, signals: list[str]) -> None:
    c = result.counts
    print(
        f"{result.scenario_id} on {runtime}: nginx got {signals}; {c.failed} of {c.total} "
        f"failed, {c.failed_in_windows} of {c.in_windows} in windows "
        f"({dict(c.error_kinds)}); bound {result.stats['overall'].describe()}; "
        f"verdict: {result.verdict.message}"
    )


def _workload(stop_signal: str | None, node_port: int) -> ProxiedApp:
    return ProxiedApp(
        SleepHook(APP_SLEEP_S),
        proxy="classic",
        proxy_sleep_s=PROXY_SLEEP_S,
        proxy_stop_signal=stop_signal,
        node_port=node_port,
    )


def _assert_each_pod_logged(result: ScenarioResult, signals: list[str], signal: str) -> None:
    deleted = {w.pod for w in result.windows}
    assert len(signals) == len(deleted), f"a deleted pod's nginx logged no signal: {signals}"
    assert set(signals) == {signal}, f"nginx got {signals}, not {signal}"


def test_sigterm_cuts_the_requests_nginx_has_in_flight(
    prove: Prove, kube: Kube, nginx_image: None
) -> None:
    runtime, _ = _runtime(kube)
    result = prove(Scenario(_workload(None, 30086), load=LOAD, expected="errors"))
    signals = _signals(result)
    _report(result, runtime, signals)
    _assert_each_pod_logged(result, signals, "SIGTERM")
    assert result.counts.in_windows > 0, "no request fell inside a termination window"
    assert result.counts.failed_in_windows > 0, "nothing was cut: the control proves nothing"
    assert result.verdict.passed, result.verdict.message


def test_stop_signal_sigquit_holds_only_where_the_runtime_honours_it(
    prove: Prove, kube: Kube, nginx_image: None
) -> None:
    runtime, version = _runtime(kube)
    # containerd learned the CRI's stop signal in 2.3 (containerd#11774); before, it
    # stops a container with its image's STOPSIGNAL, SIGTERM here. What this runtime
    # will do is the claim the proof checks; another runtime is held to what it did.
    honours = bool(version) and version >= (2, 3)
    expected: Expected = "no-errors" if honours else "errors"
    if not version:
        expected = "informative"
    result = prove(Scenario(_workload("SIGQUIT", 30087), load=LOAD, expected=expected))
    signals = _signals(result)
    _report(result, runtime, signals)
    assert result.counts.in_windows > 0, "no request fell inside a termination window"
    got = "SIGQUIT" if honours else "SIGTERM"
    if not version:  # not containerd: whatever it sent, the requests must agree with it
        got = signals[0] if signals else "none"
    _assert_each_pod_logged(result, signals, got)
    if got == "SIGQUIT":
        assert result.counts.failed == 0, dict(result.counts.error_kinds)
    else:
        # The finding: the API server kept the field (the workload checks that before
        # any load), and the runtime sent SIGTERM anyway; the requests in flight were cut.
        assert result.counts.failed_in_windows > 0, dict(result.counts.error_kinds)
    assert result.verdict.passed, result.verdict.message
