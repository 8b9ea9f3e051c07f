"""Termination windows and request counts, on a realistic no-hook rollout timeline."""

from __future__ import annotations

import random

import pytest

from graceproof.counts import Counts, summarize
from graceproof.measures import measure
from graceproof.model import RequestRecord, TerminationWindow, TimelineEvent
from graceproof.series import per_second
from graceproof.verdict import judge
from graceproof.windows import DEFAULT_TAIL_S, termination_windows

T0 = 1_764_400_000.0  # load start


def ev(dt: float, kind: str, pod: str | None, **detail: object) -> TimelineEvent:
    return TimelineEvent(t=T0 + dt, kind=kind, pod=pod, detail=dict(detail))


def rollout_timeline() -> list[TimelineEvent]:
    """`kubectl rollout restart` of 2 pods without a hook: each old pod is deleted
    as its replacement is ready, gets SIGTERM at once and exits at once."""
    return [
        ev(-5.0, "pod_ready", "web-a"),
        ev(-5.0, "pod_ready", "web-b"),
        ev(4.0, "disruption", None, action="rollout-restart"),
        ev(4.1, "pod_created", "web-c"),
        ev(6.0, "pod_ready", "web-c"),
        ev(6.05, "pod_deleted", "web-a"),
        ev(6.1, "endpoint_not_ready", "web-a"),
        ev(6.12, "sigterm", "web-a"),
        ev(6.13, "app_exit", "web-a", code=143),
        ev(6.4, "container_terminated", "web-a", reason="Error", exitCode=143),
        ev(6.9, "endpoint_removed", "web-a"),
        ev(7.5, "pod_gone", "web-a"),
        ev(6.2, "pod_created", "web-d"),
        ev(8.0, "pod_ready", "web-d"),
        ev(8.02, "pod_deleted", "web-b"),
        ev(8.1, "sigterm", "web-b"),
        # web-b's app log was lost: the kubelet's view ends its window.
        ev(8.3, "container_terminated", "web-b", reason="Error", exitCode=143),
        ev(9.0, "pod_gone", "web-b"),
    ]


def test_a_window_runs_from_deletion_to_the_first_exit_sign_plus_the_tail() -> None:
    windows = termination_windows(rollout_timeline())
    assert windows == [
        TerminationWindow(pod="web-a", start=T0 + 6.05, end=T0 + 6.13 + DEFAULT_TAIL_S),
        TerminationWindow(pod="web-b", start=T0 + 8.02, end=T0 + 8.3 + DEFAULT_TAIL_S),
    ]


def test_the_tail_is_adjustable_and_zero_ends_at_the_exit() -> None:
    (a, _) = termination_windows(rollout_timeline(), tail_s=0)
    assert a.end == T0 + 6.13


def test_events_are_ordered_by_time_before_use() -> None:
    shuffled = rollout_timeline()
    random.Random(7).shuffle(shuffled)
    assert termination_windows(shuffled) == termination_windows(rollout_timeline())


def test_an_exit_before_the_deletion_does_not_end_the_window() -> None:
    # A crash-and-restart earlier in the run is not this termination.
    events = [
        ev(1.0, "container_terminated", "web-a", reason="Error"),
        ev(5.0, "pod_deleted", "web-a"),
        ev(7.0, "app_exit", "web-a"),
    ]
    (window,) = termination_windows(events, tail_s=1)
    assert (window.start, window.end) == (T0 + 5.0, T0 + 8.0)


def test_a_pod_without_an_exit_event_stays_open_until_the_end_of_the_load() -> None:
    events = [ev(5.0, "pod_deleted", "web-a"), ev(5.1, "sigterm", "web-a")]
    (window,) = termination_windows(events, until=T0 + 30)
    assert window.end == T0 + 30
    (window,) = termination_windows(events)
    assert window.end == T0 + 5.1  # without `until`: the pod's last event


def test_pods_that_were_not_deleted_have_no_window() -> None:
    events = [ev(1.0, "pod_ready", "web-a"), ev(2.0, "app_exit", "web-a")]
    assert termination_windows(events) == []


def no_hook_records(seed: int = 1) -> list[RequestRecord]:
    """~100 req/s over 15 s across web-a/web-b then web-c/web-d; requests that hit a
    terminated pod's stale route are refused for ~1.5 s, one in-flight one is cut."""
    rng = random.Random(seed)
    records = []
    t = T0
    while t < T0 + 15:
        t += rng.expovariate(100)
        dt = t - T0
        old = ("web-a", "web-b") if dt < 6 else ("web-b", "web-c") if dt < 8 else ("web-c", "web-d")
        pod = rng.choice(old)
        stale_route = 6.13 <= dt < 7.6 or 8.1 <= dt < 9.5  # half the traffic hits the dead pod
        if stale_route and rng.random() < 0.5:
            records.append(RequestRecord(t, 0.0004, False, 0, "connection_refused"))
        else:
            records.append(RequestRecord(t, 0.003, True, 200, None, pod))
    # An in-flight request on web-a, started before the deletion, cut by the exit.
    records.append(RequestRecord(T0 + 6.0, 0.13, False, 0, "remote_disconnected"))
    return sorted(records, key=lambda r: r.t)


def test_summarize_counts_failures_inside_and_outside_the_windows() -> None:
    records = no_hook_records()
    windows = termination_windows(rollout_timeline())
    counts = summarize(records, windows)
    assert counts.total == len(records)
    assert counts.failed == sum(not r.ok for r in records) > 50
    assert counts.failed_in_windows == counts.failed  # every failure is at a termination
    assert counts.failed_outside_windows == 0
    starts_inside = [r for r in records if any(w.start <= r.t <= w.end for w in windows)]
    overlaps = [
        r for r in records if any(r.t <= w.end and r.t + r.duration >= w.start for w in windows)
    ]
    assert counts.in_windows == len(overlaps)
    # The cut request started before web-a's deletion, yet it counts: it overlaps.
    (cut,) = set(overlaps) - set(starts_inside)
    assert cut.error == "remote_disconnected"
    assert counts.error_kinds == {
        "connection_refused": counts.failed - 1,
        "remote_disconnected": 1,
    }
    assert list(counts.error_kinds) == ["connection_refused", "remote_disconnected"]
    assert set(counts.pods) == {"web-a", "web-b", "web-c", "web-d"}
    assert sum(counts.pods.values()) == counts.ok


def test_a_failure_outside_every_window_is_counted_apart() -> None:
    windows = [TerminationWindow("web-a", T0 + 5, T0 + 6)]
    records = [
        RequestRecord(T0 + 1, 2.0, False, 0, "timeout"),
        RequestRecord(T0 + 5.5, 0.01, False, 503, "http_5xx", "web-a"),
        RequestRecord(T0 + 7, 0.01, True, 200, None, "web-b"),
    ]
    counts = summarize(records, windows)
    assert (counts.failed, counts.failed_in_windows, counts.in_windows) == (2, 1, 1)
    assert counts.error_kinds_in_windows == {"http_5xx": 1}


def test_counts_survive_a_round_trip_through_a_dict() -> None:
    counts = summarize(no_hook_records(), termination_windows(rollout_timeline()))
    assert Counts.from_dict(counts.to_dict()) == counts


def test_per_second_bins_ok_and_failed_requests_by_completion_time() -> None:
    records = [
        RequestRecord(T0 + 0.1, 0.1, True, 200),
        RequestRecord(T0 + 0.5, 0.6, True, 200),  # completes in second 1
        RequestRecord(T0 + 1.5, 2.0, False, 0, "timeout"),  # completes in second 3
        RequestRecord(T0 + 2.2, 0.0, False, 0, "connection_refused"),
    ]
    series = per_second(records, t0=T0)
    assert series.ok == [1, 1, 0, 0]
    assert series.failed == [0, 0, 1, 1]
    assert series.times() == [0.0, 1.0, 2.0, 3.0]
    assert per_second([], t0=T0).ok == []


def test_per_second_of_a_full_run_adds_up_to_the_counts() -> None:
    records = no_hook_records()
    series = per_second(records)
    assert sum(series.ok) + sum(series.failed) == len(records)
    assert series.t0 == records[0].t
    # The no-hook failures cluster right after the two deletions (seconds 6-9).
    busiest = sorted(range(len(series.failed)), key=lambda i: -series.failed[i])[:3]
    assert all(6 <= i <= 9 for i in busiest)


def test_per_second_refuses_an_empty_bin() -> None:
    with pytest.raises(ValueError, match="bin_s"):
        per_second([], bin_s=0)


def test_late_arrivals_are_counted_apart_from_requests_and_failures() -> None:
    """An open-loop arrival never sent is no request a pod saw: not in `total`, not a
    failure, not a bin of the series; counted apart, inside the windows too."""
    windows = termination_windows(rollout_timeline())
    w = windows[0]
    sent = [
        RequestRecord(t=w.start - 1.0, duration=0.01, ok=True, status=200, intended=w.start - 1.0),
        RequestRecord(t=w.start + 0.1, duration=0.01, ok=True, status=200, intended=w.start + 0.1),
    ]
    late = [
        RequestRecord(t=w.start + 0.2, duration=0.1, ok=False, status=0, error="late", intended=t)
        for t in (w.start + 0.1, w.start + 0.15)
    ] + [RequestRecord(t=T0, duration=0.1, ok=False, status=0, error="late", intended=T0 - 0.1)]
    counts = summarize(sent + late, windows)
    assert (counts.total, counts.failed, counts.in_windows) == (2, 0, 1)
    assert (counts.late, counts.late_in_windows) == (3, 2)
    assert "late" not in counts.error_kinds
    assert Counts.from_dict(counts.to_dict()) == counts
    assert sum(per_second(sent + late).failed) == 0
    m = measure(sent + late, windows)
    assert m.latency_in_windows is not None and m.latency_in_windows.max == 0.01
    verdict = judge("no-errors", counts, require_coverage=False)
    assert verdict.passed
    assert "3 open-loop arrivals (2 inside windows) were not sent on time" in verdict.message


def test_counts_of_older_results_have_no_late_arrivals() -> None:
    old = {"total": 5, "failed": 1, "in_windows": 2, "failed_in_windows": 1}
    assert (Counts.from_dict(old).late, Counts.from_dict(old).late_in_windows) == (0, 0)
