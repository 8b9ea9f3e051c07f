"""Failures classified by where they failed, and whether retryable ones count."""

from __future__ import annotations

import pytest

from graceproof.counts import Counts, summarize
from graceproof.failures import FAILURE_CLASSES, FailureContext, failure_class
from graceproof.model import RequestRecord, TerminationWindow
from graceproof.verdict import judge

GET = FailureContext(idempotent=True, proxied=False)
POST = FailureContext(idempotent=False, proxied=False)
VIA_INGRESS = FailureContext(idempotent=True, proxied=True)


def failed(
    error: str, stage: str | None = None, reused: bool = False, **kw: object
) -> RequestRecord:
    detail = {} if stage is None else {"stage": stage, "reused": reused}
    status = int(kw.pop("status", 0))  # type: ignore[call-overload]
    pod = kw.pop("pod", None)
    return RequestRecord(
        t=10.0,
        duration=0.1,
        ok=False,
        status=status,
        error=error,
        pod=pod,
        detail=detail,
    )


@pytest.mark.parametrize(
    ("record", "context", "expected"),
    [
        (failed("connection_refused", "connect"), GET, "stale_endpoint"),
        (failed("connection_refused"), GET, "stale_endpoint"),  # a kind that records no stage
        (failed("timeout", "connect"), GET, "stale_endpoint"),
        (failed("timeout", "sent", reused=True), GET, "dropped"),  # no answer: not retried
        (failed("remote_disconnected", "sent", reused=True), GET, "retryable"),
        (failed("connection_reset", "sent", reused=True), GET, "retryable"),
        (failed("remote_disconnected", "sent", reused=True), POST, "dropped"),  # not idempotent
        (failed("remote_disconnected", "sent", reused=False), GET, "dropped"),  # new connection
        (failed("connection_reset", "answer", reused=True), GET, "cut"),  # part of the answer
        (failed("other", "answer"), GET, "cut"),
        (failed("http_5xx", status=502), VIA_INGRESS, "ingress"),  # no X-Pod-Name: the proxy
        (failed("http_5xx", status=503, pod="web-0"), VIA_INGRESS, "status"),  # the app's own
        (failed("http_5xx", status=502), GET, "status"),
        (failed("grpc_unavailable"), GET, "unclassified"),
    ],
)
def test_each_failure_is_placed_where_it_failed(
    record: RequestRecord, context: FailureContext, expected: str
) -> None:
    assert expected in FAILURE_CLASSES
    assert failure_class(record, context) == expected


def test_success_and_arrivals_never_sent_have_no_class() -> None:
    ok = RequestRecord(t=1.0, duration=0.1, ok=True, status=200)
    late = RequestRecord(t=1.0, duration=0.1, ok=False, status=0, error="late")
    assert failure_class(ok, GET) is None
    assert failure_class(late, GET) is None


def test_the_context_comes_from_a_results_parameters() -> None:
    assert FailureContext.of({"load": {"method": "POST"}}) == POST
    assert FailureContext.of({}) == GET
    through = {"workload": {"type": "ThroughIngress", "controller": {"kind": "traefik"}}}
    assert FailureContext.of(through) == VIA_INGRESS


def _counts(*records: RequestRecord, retried: bool = False) -> Counts:
    window = TerminationWindow(pod="web-0", start=0.0, end=100.0)
    ok = [RequestRecord(t=float(i), duration=0.01, ok=True, status=200) for i in range(97)]
    return summarize([*ok, *records], [window], GET, retried=retried)


def test_counts_carry_the_classes_overall_and_in_windows() -> None:
    counts = _counts(
        failed("remote_disconnected", "sent", reused=True),
        failed("connection_refused", "connect"),
        failed("connection_refused", "connect"),
    )
    assert counts.classes == {"stale_endpoint": 2, "retryable": 1}
    assert counts.classes_in_windows == counts.classes


def test_retryable_failures_count_by_default_and_the_verdict_names_them() -> None:
    counts = _counts(failed("remote_disconnected", "sent", reused=True))
    verdict = judge("no-errors", counts)
    assert not verdict.passed
    assert "of the failures, 1 retryable" in verdict.message
    assert "--retryable-count no" in verdict.message


def test_retryable_failures_left_out_pass_a_run_and_are_still_named() -> None:
    counts = _counts(failed("remote_disconnected", "sent", reused=True), retried=True)
    assert (counts.failed, counts.retried, counts.retried_in_windows) == (0, 1, 1)
    assert counts.total == 98  # a request still, answered as a retrying client sees it
    verdict = judge("no-errors", counts)
    assert verdict.passed, verdict.message
    assert "not counted: 1 retryable failures (1 inside termination windows)" in verdict.message


def test_leaving_retryable_out_leaves_every_other_failure_in() -> None:
    counts = _counts(
        failed("remote_disconnected", "sent", reused=True),
        failed("connection_refused", "connect"),
        retried=True,
    )
    verdict = judge("no-errors", counts)
    assert not verdict.passed
    assert verdict.message.startswith(
        "1 of 99 requests failed (1 inside termination windows; connection_refused 1; "
        "stale_endpoint 1)"
    )


def test_a_control_that_failed_only_by_retryable_ones_did_not_fail_when_they_do_not_count() -> None:
    record = failed("connection_reset", "sent", reused=True)
    assert judge("errors", _counts(record)).passed
    assert not judge("errors", _counts(record, retried=True)).passed
