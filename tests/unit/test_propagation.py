"""The propagation lag of a traffic path, from request records and the timeline."""

from __future__ import annotations

from graceproof.model import RequestRecord, TimelineEvent
from graceproof.propagation import Lag, Propagation, lags, propagation

T0 = 1_764_400_000.0


def ev(dt: float, kind: str, pod: str, **detail: object) -> TimelineEvent:
    return TimelineEvent(t=T0 + dt, kind=kind, pod=pod, detail=dict(detail))


def answered(pod: str, *starts: float, ok: bool = True) -> list[RequestRecord]:
    return [
        RequestRecord(t=T0 + s, duration=0.005, ok=ok, status=200 if ok else 0, pod=pod)
        for s in starts
    ]


def hooked_termination(pod: str, at: float, sigterm_after: float = 5.0) -> list[TimelineEvent]:
    return [
        ev(at - 10, "endpoint_not_ready", pod, ready=False, serving=False, terminating=False),
        ev(at, "pod_deleted", pod),
        ev(at + 0.03, "endpoint_not_ready", pod, ready=False, serving=True, terminating=True),
        ev(at + sigterm_after, "sigterm", pod),
    ]


def test_the_lag_runs_from_the_endpoint_turning_not_ready_to_the_last_request_it_got() -> None:
    timeline = hooked_termination("web-a", 10.0) + hooked_termination("web-b", 20.0)
    records = (
        answered("web-a", 9.0, 9.9, 10.5, 11.23)  # reached 1.2 s after not-ready
        + answered("web-b", 19.0, 20.43)  # 0.4 s
        + answered("web-c", 10.5, 11.0, 21.0, 25.0)  # another pod: not terminated
        + answered("web-a", 12.0, ok=False)  # a failure is no answer of the pod
    )
    got = lags(records, timeline)
    assert [(x.pod, round(x.seconds, 2), x.censored) for x in got] == [
        ("web-a", 1.2, False),
        ("web-b", 0.4, False),
    ]
    p = propagation(records, timeline)
    assert p.median_s is not None and round(p.median_s, 2) == 0.8
    assert p.max_s is not None and round(p.max_s, 2) == 1.2
    # Two lags say little of the tail: no recommendation yet.
    assert p.recommended_sleep_s is None
    assert "5 terminations at least recommend a preStop sleep" in p.describe()
    five = Propagation([*got, Lag("c", 0.3), Lag("d", 0.5), Lag("e", 0.2)])
    assert five.recommended_sleep_s == 4  # ceil(2 x 1.2 + 1)
    assert "shortest safe preStop sleep here: 4 s" in five.describe()


def test_a_path_that_stopped_before_any_later_request_has_no_lag() -> None:
    records = answered("web-a", 9.0, 9.99)
    assert lags(records, hooked_termination("web-a", 10.0)) == [Lag("web-a", 0.0)]


def test_a_pod_that_stopped_answering_at_sigterm_gives_only_a_lower_bound() -> None:
    """Without a hook the pod exits at once, still chosen by the path: its last answer
    says the lag is at least that, and no sleep is recommended from it."""
    timeline = hooked_termination("web-a", 10.0, sigterm_after=0.05)
    got = lags(answered("web-a", 9.0, 10.0), timeline)
    assert got[0].censored
    p = Propagation(got)
    assert p.recommended_sleep_s is None
    assert "only a lower bound" in p.describe()


def test_without_its_not_ready_event_the_deletion_starts_the_lag() -> None:
    timeline = [ev(10.0, "pod_deleted", "web-a"), ev(20.0, "sigterm", "web-a")]
    assert round(lags(answered("web-a", 10.7), timeline)[0].seconds, 2) == 0.7


def test_it_survives_the_result_json() -> None:
    p = Propagation([Lag("a", 0.5), Lag("b", 1.5, censored=True)])
    assert Propagation.from_dict(p.to_dict()) == p
    assert p.to_dict()["recommended_sleep_s"] is None
    assert Propagation().describe() == "no terminated pod to measure"


def test_a_replacement_with_the_same_name_does_not_stretch_the_lag() -> None:
    """A StatefulSet's web-0 comes back as web-0: its answers and events are not the
    terminated pod's (cut at the pod's pod_gone)."""
    timeline = [
        *hooked_termination("web-0", 10.0),
        ev(16.0, "pod_gone", "web-0"),
        ev(20.0, "endpoint_not_ready", "web-0", ready=False, serving=False, terminating=False),
        ev(30.0, "sigterm", "web-0"),
    ]
    records = answered("web-0", 9.0, 10.33) + answered("web-0", 21.0, 40.0)
    (lag,) = lags(records, timeline)
    assert round(lag.seconds, 2) == 0.3 and not lag.censored


def test_without_a_sigterm_signal_the_containers_end_censors() -> None:
    """A team's workload logs no SIGTERM: its container's end marks the stop."""
    timeline = [
        ev(10.0, "pod_deleted", "web-a"),
        ev(10.02, "endpoint_not_ready", "web-a", ready=False, serving=True, terminating=True),
        ev(10.5, "container_terminated", "web-a"),
    ]
    (lag,) = lags(answered("web-a", 10.45), timeline)
    assert lag.censored


def test_a_pod_that_answered_nothing_is_no_measurement() -> None:
    assert lags(answered("other", 10.5), hooked_termination("web-a", 10.0)) == []


def test_a_not_ready_edge_seen_just_before_the_deletion_still_counts() -> None:
    timeline = [
        ev(9.9, "endpoint_not_ready", "web-a", ready=False, serving=True, terminating=True),
        ev(10.0, "pod_deleted", "web-a"),
        ev(15.0, "sigterm", "web-a"),
    ]
    (lag,) = lags(answered("web-a", 10.4), timeline)
    assert round(lag.seconds, 2) == 0.5 and round(lag.since_deletion, 2) == 0.4


def test_the_sleep_covers_the_time_from_the_deletion_not_only_from_not_ready() -> None:
    # The endpoint turned not-ready 1 s after the deletion; the hook started at it.
    slow = [Lag(f"p{i}", 0.2, since_deletion=1.2) for i in range(5)]
    assert Propagation(slow).recommended_sleep_s == 4  # ceil(2 x 1.2 + 1), not ceil(1.4)
