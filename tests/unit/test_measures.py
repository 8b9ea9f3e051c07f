"""Latency, unavailability and budgets: computed from records and windows, judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from graceproof.action_log import DisruptionRecord
from graceproof.budget import Budget
from graceproof.counts import summarize
from graceproof.errors import WorkloadSpecError
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.measures import Measures, latency_of, measure
from graceproof.model import RequestRecord, TerminationWindow, TimelineEvent
from graceproof.report.compare import Tolerance, compare
from graceproof.result import ScenarioResult, load_json
from graceproof.subject import Subject
from graceproof.verdict import judge

T0 = 1_000_000.0


def steady(
    start: float, end: float, every: float = 0.01, dur: float = 0.002
) -> list[RequestRecord]:
    n = round((end - start) / every)
    return [RequestRecord(T0 + start + i * every, dur, True, 200) for i in range(n)]


def test_percentiles_are_nearest_rank() -> None:
    lat = latency_of([0.001 * i for i in range(1, 101)])
    assert lat is not None
    assert (lat.count, lat.p50, lat.p95, lat.p99, lat.max) == (100, 0.05, 0.095, 0.099, 0.1)
    assert latency_of([]) is None


def test_a_silent_stretch_is_unavailable_time_overall_and_for_its_pod() -> None:
    # 100 ok/s for 10 s, except 4.0 s .. 6.0 s where nothing succeeds (an outage).
    records = steady(0, 4) + steady(6, 10)
    window = TerminationWindow("web-1", T0 + 3.5, T0 + 5.0)
    m = measure(records, [window])
    assert m.unavailable_s == pytest.approx(2.0, abs=0.02)
    assert m.longest_gap_s == pytest.approx(2.0, abs=0.02)
    assert m.unavailable_per_pod == {"web-1": pytest.approx(1.0, abs=0.02)}
    assert m.steady_ok_rps == pytest.approx(100, rel=0.02)
    assert m.dip is not None and m.dip > 0.5  # half the window served nothing


def test_steady_service_has_no_unavailable_time() -> None:
    records = steady(0, 10)
    m = measure(records, [TerminationWindow("web-1", T0 + 3, T0 + 6)])
    assert m.unavailable_s == 0.0
    assert m.dip == pytest.approx(0.0, abs=0.05)


def test_failures_count_in_latency_inside_the_windows_only() -> None:
    records = [*steady(0, 10), RequestRecord(T0 + 4.0, 2.0, False, 0, "timeout")]
    m = measure(records, [TerminationWindow("web-1", T0 + 3.5, T0 + 5)])
    assert m.latency_in_windows is not None and m.latency_in_windows.max == 2.0
    assert m.latency_outside is not None and m.latency_outside.max == 0.002


def test_measures_round_trip_through_json_data() -> None:
    m = measure(steady(0, 4) + steady(6, 10), [TerminationWindow("w", T0 + 3, T0 + 7)])
    assert Measures.from_dict(m.to_dict()) == m


def _judged(budget: Budget | None, failed: int = 3) -> tuple[bool, str]:
    records = steady(0, 10)
    records += [RequestRecord(T0 + 4.0 + i * 0.01, 2.0, False, 0, "timeout") for i in range(failed)]
    windows = [TerminationWindow("web-1", T0 + 3.5, T0 + 5)]
    verdict = judge(
        "no-errors", summarize(records, windows), budget=budget, measures=measure(records, windows)
    )
    return verdict.passed, verdict.message


def test_without_a_budget_any_failure_fails() -> None:
    assert _judged(None)[0] is False


def test_an_error_rate_budget_lets_a_few_failures_pass_and_names_the_excess() -> None:
    passed, message = _judged(Budget(max_error_rate=0.01))
    assert passed and "within budget (error rate <= 1.0000%)" in message
    passed, message = _judged(Budget(max_error_rate=0.001))
    assert not passed
    assert "error rate 0.2991% (3 of 1003) exceeds the budget 0.1000% by 0.1991%" in message


def test_p99_and_unavailability_budgets_are_checked_beside_the_zero_rule() -> None:
    passed, message = _judged(Budget(max_p99_in_windows_s=0.5), failed=0)
    assert passed
    passed, message = _judged(Budget(max_error_rate=0.01, max_p99_in_windows_s=0.5), failed=3)
    assert not passed and "p99 latency in windows 2.000 s exceeds the budget 0.5 s" in message
    passed, message = _judged(Budget(max_error_rate=0.01, max_unavailable_s=0.1), failed=3)
    assert passed  # 3 slow requests among many fast ones: nobody was left without answers


def test_a_budget_out_of_range_is_refused() -> None:
    with pytest.raises(WorkloadSpecError, match="fraction"):
        Budget(max_error_rate=5)
    with pytest.raises(WorkloadSpecError, match="max_unavailable_s must be a number >= 0"):
        Budget(max_unavailable_s=-1)


def _hooked(records: list[RequestRecord]) -> ScenarioResult:
    return ScenarioResult.build(
        Subject(
            scenario_id="prestop-sleep--delete-one-by-one--new",
            variant="prestop-sleep",
            connection="new",
            expected="no-errors",
        ),
        Measurement(
            cluster=ClusterInfo("existing", "c", "v1.34.4"),
            disruption=DisruptionRecord("delete-one-by-one", T0 + 3.5),
            load={},
            records=records,
            timeline=[
                TimelineEvent(T0 + 3.5, "pod_deleted", "web-1"),
                TimelineEvent(T0 + 5.0, "pod_gone", "web-1"),
            ],
            started=T0,
            finished=T0 + 10,
        ),
    )


def test_compare_flags_more_unavailable_time_beyond_the_tolerance() -> None:
    before = _hooked(steady(0, 10))
    stalled = _hooked(steady(0, 4) + steady(6, 10))  # 2 s without any success
    assert compare([before], [stalled]).ok is False
    [regression] = compare([before], [stalled]).regressions
    assert "unavailable 0.000 s in the baseline, 2.0" in regression.describe()
    assert compare([before], [stalled], Tolerance(unavailable_s=3.0)).ok


def test_compare_flags_a_p99_that_more_than_doubles_in_the_windows() -> None:
    before = _hooked(steady(0, 10, dur=0.05))
    slower = _hooked(steady(0, 10, dur=0.2))
    assert [
        r.describe().split(":")[1].strip() for r in compare([before], [slower]).regressions
    ] == [
        "p99 latency in windows 0.050 s in the baseline, 0.200 s in the change (allowed up to "
        "0.100 s)"
    ]
    assert compare([before], [slower], Tolerance(p99_factor=None)).ok
    # A small absolute change is not news, whatever the factor.
    assert compare([_hooked(steady(0, 10))], [_hooked(steady(0, 10, dur=0.01))]).ok


def test_results_keep_measures_and_budget_through_json(tmp_path: Path) -> None:
    from dataclasses import replace

    result = replace(_hooked(steady(0, 10)), budget=Budget(max_error_rate=0.001))
    again = load_json(result.write_json(tmp_path))
    assert again.measures == result.measures and again.budget == result.budget


def test_a_nan_budget_is_refused_rather_than_passing_everything() -> None:
    with pytest.raises(WorkloadSpecError, match="nan"):
        Budget(max_error_rate=float("nan"))


def test_a_window_without_any_request_fails_a_clean_run() -> None:
    records = steady(0, 4)  # the load stopped before the second termination
    windows = [
        TerminationWindow("web-1", T0 + 2, T0 + 3),
        TerminationWindow("web-2", T0 + 6, T0 + 7),
    ]
    counts = summarize(records, windows)
    assert (counts.windows, counts.windows_covered) == (2, 1)
    verdict = judge("no-errors", counts)
    assert not verdict.passed
    assert "1 of 2 termination windows had no request inside" in verdict.message
