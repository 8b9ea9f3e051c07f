"""A reverse proxy in the app's pod, proven on the cluster: Debian's nginx (the nginx
example's image) in front of the sample app, the Service on nginx's port
(graceproof.workloads.sidecar). The app has a preStop sleep of 5 s in every variant.

- the proxy as a classic container gets SIGTERM with the app, at once: it stops routing
  while kube-proxy still sends to the pod, and requests fail inside the windows;
- the proxy as a native sidecar (an init container with restartPolicy Always) is
  stopped only after the app has exited: no request fails;
- a classic proxy with a preStop sleep of its own: what that buys is measured, not
  judged (informative);
- the other direction (outbound=True): the app calls its own Service through the
  proxy's egress every 0.2 s until it exits. Behind a classic proxy its calls during its
  preStop sleep fail (the proxy stopped at the deletion); behind a native sidecar none
  does.

The timeline shows each proxy's end against the app's: first for the classic proxy,
last for the native sidecar.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graceproof.hooks import SleepHook
from graceproof.model import TimelineEvent
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads.sidecar import (
    OUTBOUND_EVENT,
    OutboundCalls,
    ProxiedApp,
    outbound_after_deletion,
)

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e

SLEEP_S = 5
PROXY = "proxy"


@pytest.fixture
def nginx_image(nginx_image_args: list[str]) -> None:
    """The nginx example's image in the cluster (tests/e2e/conftest.py)."""


def _ends(result: ScenarioResult) -> dict[str, dict[str, TimelineEvent]]:
    """Per deleted pod, the first termination of each of its containers after deletion."""
    out: dict[str, dict[str, TimelineEvent]] = {}
    for w in result.windows:
        for e in sorted(result.timeline, key=lambda e: e.t):
            if e.kind == "container_terminated" and e.pod == w.pod and e.t >= w.start:
                out.setdefault(w.pod, {}).setdefault(str(e.detail["container"]), e)
    return out


def _both_ends(result: ScenarioResult) -> dict[str, tuple[TimelineEvent, TimelineEvent]]:
    """(app's end, proxy's end) of each deleted pod whose two ends were both seen."""
    pairs = {
        pod: (ends["app"], ends[PROXY])
        for pod, ends in _ends(result).items()
        if "app" in ends and PROXY in ends
    }
    assert pairs, f"{result.scenario_id}: no pod with both container ends in the timeline"
    return pairs


def _report(result: ScenarioResult) -> None:
    """The figures for the README, per pod: seconds after deletion of the kubelet's
    Killing events, the app's exit and each container's end."""
    c = result.counts
    print(
        f"{result.scenario_id}: {c.failed} of {c.total} failed, {c.failed_in_windows} of "
        f"{c.in_windows} in windows ({dict(c.error_kinds)}); bound "
        f"{result.stats['overall'].describe()}; verdict: {result.verdict.message}"
    )
    for w in result.windows:
        marks = []
        for e in sorted(result.timeline, key=lambda e: e.t):
            if e.pod != w.pod or e.t < w.start:
                continue
            if e.kind == "k8s_event" and e.detail.get("reason") == "Killing":
                marks.append(f"{e.detail.get('message')} {e.t - w.start:.2f}")
            elif e.kind in ("sigterm", "app_exit"):
                marks.append(f"{e.kind} {e.t - w.start:.2f}")
            elif e.kind == "container_terminated":
                # finished_at: the kubelet's own time (whole seconds); t: when the API
                # said so (for a classic proxy, only once the app had ended too).
                finished = float(e.detail["finished_at"]) - w.start
                marks.append(
                    f"{e.detail['container']} ended {finished:.0f} (seen {e.t - w.start:.2f})"
                )
        print(f"  {w.pod}: " + "; ".join(marks))


def test_a_classic_proxy_stops_routing_first_and_requests_fail_despite_the_apps_hook(
    prove: Prove, nginx_image: None
) -> None:
    result = prove(Scenario(ProxiedApp(SleepHook(SLEEP_S), proxy="classic", node_port=30083)))
    _report(result)
    c = result.counts
    assert result.verdict.expected == "errors"
    assert c.in_windows > 0, "no request fell inside a termination window"
    assert c.failed_in_windows > 0, "the classic proxy lost nothing: the proof proves nothing"
    assert result.verdict.passed, result.verdict.message
    for pod, (app, proxy) in _both_ends(result).items():
        # By the kubelet's own clock: the API reports both ends in one status update once
        # the pod's kill is over (seen: the proxy ended 5 s before the app, and both
        # arrived 0.6 s after the app's end).
        assert proxy.detail["finished_at"] < app.detail["finished_at"], (
            f"{pod}: the classic proxy ended after the app"
        )


def test_a_native_sidecar_outlives_the_app_and_no_request_fails(
    prove: Prove, nginx_image: None
) -> None:
    result = prove(Scenario(ProxiedApp(SleepHook(SLEEP_S), proxy="native", node_port=30084)))
    _report(result)
    c = result.counts
    assert result.verdict.expected == "no-errors"
    assert c.in_windows > 0, "no request fell inside a termination window"
    assert c.failed == 0, dict(c.error_kinds)
    assert result.verdict.passed, result.verdict.message
    for pod, (app, proxy) in _both_ends(result).items():
        assert proxy.detail.get("sidecar") is True
        assert proxy.t >= app.t, f"{pod}: the native sidecar ended before the app"
        assert proxy.detail["finished_at"] >= app.detail["finished_at"]


def test_a_classic_proxy_with_its_own_sleep_is_measured(prove: Prove, nginx_image: None) -> None:
    workload = ProxiedApp(
        SleepHook(SLEEP_S), proxy="classic", proxy_sleep_s=SLEEP_S, node_port=30085
    )
    result = prove(Scenario(workload))
    _report(result)
    assert result.verdict.expected == "informative"
    assert result.verdict.passed, result.verdict.message
    assert result.counts.in_windows > 0, "no request fell inside a termination window"
    # The delete calls' times, not the windows' starts: the watch sees a deletion some
    # milliseconds after the kubelet may have started the hook (a run measured 3.98 s).
    deleted = {a["pod"]: a["t"] for a in result.disruption.actions if a["action"] == "delete"}
    for pod, (_, proxy) in _both_ends(result).items():
        # Its own hook held it: it ended no sooner than the sleep after the deletion (by
        # the kubelet's clock, whole seconds, truncated: a second's slack).
        ended = float(proxy.detail["finished_at"]) - deleted[pod]
        assert ended >= SLEEP_S - 1.0, f"{pod}: the proxy's sleep did not hold ({ended:.1f} s)"


def _outbound(result: ScenarioResult) -> dict[str, OutboundCalls]:
    """Per deleted pod, its app's outbound calls from its deletion on; prints them, with
    why they failed, for the README. Asserts that each pod's calls went through before
    its deletion: a broken egress would fail them all and prove nothing."""
    deleted = {w.pod: w.start for w in result.windows}
    counts = {p: c for p, c in outbound_after_deletion(result.timeline).items() if p in deleted}
    calls = [e for e in result.timeline if e.kind == OUTBOUND_EVENT and e.pod in deleted]
    for pod, c in sorted(counts.items()):
        mine = [e for e in calls if e.pod == pod]
        ok_before = sum(1 for e in mine if e.t < deleted[pod] and e.detail.get("ok") is True)
        failures = sorted(
            (e for e in mine if e.t >= deleted[pod] and not e.detail.get("ok")), key=lambda e: e.t
        )
        span = (
            f" from {failures[0].t - deleted[pod]:.2f} to {failures[-1].t - deleted[pod]:.2f} s "
            f"({sorted({str(e.detail.get('error')) for e in failures})})"
            if failures
            else ""
        )
        print(
            f"  {pod}: outbound {c.failed} of {c.made} failed after deletion{span}; "
            f"{ok_before} ok before"
        )
        assert ok_before > 0, f"{pod}: no outbound call went through before its deletion"
    assert counts, f"{result.scenario_id}: no deleted pod in the timeline"
    return counts


def test_a_classic_proxy_fails_the_apps_outbound_calls_while_it_terminates(
    prove: Prove, nginx_image: None
) -> None:
    workload = ProxiedApp(SleepHook(SLEEP_S), proxy="classic", outbound=True, node_port=30086)
    result = prove(Scenario(workload))
    _report(result)
    counts = _outbound(result)
    assert result.verdict.passed, result.verdict.message
    made = sum(c.made for c in counts.values())
    failed = sum(c.failed for c in counts.values())
    assert made > 0, "the apps made no outbound call after their deletion"
    assert failed > 0, f"the classic proxy carried all {made} outbound calls: proves nothing"


def test_a_native_sidecar_carries_the_apps_outbound_calls_until_it_exits(
    prove: Prove, nginx_image: None
) -> None:
    workload = ProxiedApp(SleepHook(SLEEP_S), proxy="native", outbound=True, node_port=30087)
    result = prove(Scenario(workload))
    _report(result)
    counts = _outbound(result)
    assert result.verdict.passed, result.verdict.message
    assert sum(c.made for c in counts.values()) > 0, "no outbound call after a deletion"
    assert all(c.failed == 0 for c in counts.values()), counts
