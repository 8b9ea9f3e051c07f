"""kube-proxy's data plane (iptables or nftables) and the preStop sleep it calls for.

The mode decides how a terminating pod leaves the Service: iptables rewrites its
chains, nftables updates its sets and maps. Whichever the cluster runs, this module
measures its removal lag over ten terminations, proves the sleep that lag recommends
keeps every request, and that no hook loses some. Every result records the mode
(`cluster.proxy_mode`, graceproof.proxy_mode).

CI runs it on the local cluster in both modes (iptables in `make test`, then
`make e2e PROVIDER=local KUBE_PROXY_MODE=nftables`); kind in either mode runs by hand
(`make e2e PROVIDER=kind KUBE_PROXY_MODE=nftables`, .ci/run says why not in CI yet).
In nftables mode kube-proxy serves no NodePort on 127.0.0.1, where the local cluster's
load enters from the host, so there the load runs inside the cluster (Locust's pods,
through the Service's ClusterIP: graceproof.placement.InCluster).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graceproof.config import Options
from graceproof.hooks import NoHook, SleepHook
from graceproof.placement import InCluster, OnHost, Placement
from graceproof.providers import ClusterProvider
from graceproof.proxy_mode import MODES
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e


@pytest.fixture
def placement(
    graceproof_options: Options, cluster: ClusterProvider, request: pytest.FixtureRequest
) -> Placement:
    """From the host (127.0.0.1 and the NodePort), but from inside the cluster on the
    local cluster in nftables mode, which serves no NodePort on 127.0.0.1."""
    if graceproof_options.kube_proxy_mode == "nftables" and cluster.kind != "kind":
        return InCluster(workers=2, image=request.getfixturevalue("load_image"))
    return OnHost()


def test_the_lag_of_this_clusters_proxy_mode_and_the_sleep_it_calls_for(
    prove: Prove, graceproof_options: Options, placement: Placement
) -> None:
    """Ten replicas with a 10 s preStop sleep, deleted one by one: each pod answers
    long after kube-proxy stopped choosing it, so the last request it got measures
    the mode's lag (ten lags: the median and the range). The sleep they recommend
    (2 x the largest lag + 1 s) keeps every request; no hook loses some."""
    measured = prove(
        Scenario(SampleApp(SleepHook(10), replicas=10, node_port=30080), placement=placement)
    )
    mode = measured.cluster.proxy_mode
    assert mode in MODES, measured.cluster  # the cluster says which: recorded, not guessed
    if graceproof_options.kube_proxy_mode is not None:
        assert mode == graceproof_options.kube_proxy_mode, measured.cluster
    lag = measured.propagation
    print(f"kube-proxy {mode}: {measured.headline()}; {lag.describe() if lag else 'no lag'}")
    assert measured.verdict.passed and measured.counts.failed == 0, measured.verdict.message
    assert lag is not None and len(lag.lags) == 10, lag
    assert lag.censored == 0  # every pod answered until kube-proxy let it go
    sleep_s = lag.recommended_sleep_s
    assert sleep_s is not None and sleep_s < 10, lag

    held = prove(
        Scenario(SampleApp(SleepHook(sleep_s), replicas=2, node_port=30081), placement=placement)
    )
    print(f"kube-proxy {mode}, the recommended {sleep_s} s: {held.headline()}")
    assert held.cluster.proxy_mode == mode
    assert held.counts.failed == 0 and held.counts.in_windows > 0, held.verdict.message
    assert held.verdict.passed, held.verdict.message

    control = prove(Scenario(SampleApp(NoHook(), replicas=2, node_port=30082), placement=placement))
    print(f"kube-proxy {mode}, no hook: {control.headline()}")
    assert control.counts.failed_in_windows > 0, control.verdict.message
    assert control.verdict.passed, control.verdict.message
