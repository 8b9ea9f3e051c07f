"""The timeline under a lost API connection: its sources retry and resume, each cut is
recorded as a gap, and a gap inside a termination window never lets a verdict pass.

The watches are fakes (a Watch that calls a scripted list function), so no cluster and
no clock: what the recorder does with each answer is the whole subject.
"""

from __future__ import annotations

import calendar
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest
import urllib3.exceptions
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
)
from kubernetes.client.exceptions import ApiException

from graceproof import timeline
from graceproof.action_log import DisruptionRecord
from graceproof.counts import Counts
from graceproof.gaps import GAP_KIND, WatchGap, gaps_of
from graceproof.kube import Kube
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord, TerminationWindow, TimelineEvent
from graceproof.result import ScenarioResult, load_json
from graceproof.subject import Subject
from graceproof.timeline import TimelineRecorder
from graceproof.verdict import judge

T0 = 1_764_400_000.0
REFUSED = urllib3.exceptions.MaxRetryError(None, "/api/v1/pods", reason="Connection refused")  # type: ignore[arg-type]
RESET = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104))


def _pod(name: str, rv: str) -> V1Pod:
    return V1Pod(
        metadata=V1ObjectMeta(name=name, resource_version=rv),
        status=V1PodStatus(conditions=[V1PodCondition(type="Ready", status="True")]),
    )


Answer = list[dict[str, Any]] | BaseException


class _Script:
    """A list function answering each watch call with the next answer: events, or an
    exception raised by the call; after the last, it stops the recorder."""

    def __init__(self, recorder: TimelineRecorder, *answers: Answer) -> None:
        self.recorder = recorder
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, namespace: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        if not self.answers:
            self.recorder._stop.set()
            return []
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class _FakeWatch:
    def stream(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(func(*args, **kwargs))

    def stop(self) -> None:
        pass


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline.watch, "Watch", _FakeWatch)
    monkeypatch.setattr(timeline, "_BACKOFF_FIRST_S", 0.001)
    monkeypatch.setattr(timeline, "_BACKOFF_MAX_S", 0.002)


def _recorder(*answers: Answer) -> tuple[TimelineRecorder, _Script]:
    kube = SimpleNamespace(core=SimpleNamespace(), discovery=SimpleNamespace())
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    script = _Script(rec, *answers)
    kube.core.list_namespaced_pod = script
    rec._follow = lambda pod, container, restart: None  # type: ignore[method-assign]
    return rec, script


def _added(name: str, rv: str) -> list[dict[str, Any]]:
    return [{"type": "ADDED", "object": _pod(name, rv)}]


# the recorder -------------------------------------------------------------------------
@pytest.mark.usefixtures("fast_retries")
def test_a_watch_cut_twice_then_back_gives_one_gap_and_keeps_recording() -> None:
    rec, script = _recorder(_added("web-1", "10"), REFUSED, RESET, _added("web-2", "12"))
    rec._guard(rec._watch_pods, "_watch_pods")()

    assert rec.errors == []
    assert [e.pod for e in rec.of("pod_created")] == ["web-1", "web-2"]
    (gap,) = rec.gaps
    assert gap.source == "pods" and gap.error.startswith("MaxRetryError")
    assert gap.start <= gap.end
    # The gap is in the timeline too, at its start, and reads back as the same gap.
    assert gaps_of(rec.events()) == [gap]
    assert [e.t for e in rec.of(GAP_KIND)] == [gap.start]
    # Each call after the cut resumed from the last resourceVersion seen.
    assert [c["resource_version"] for c in script.calls[:4]] == [None, "10", "10", "10"]


class _BlockingWatch:
    """A watch call with nothing to say: it blocks, as an idle API server's does until
    the call's timeout, until stop() shuts its socket (the client's stop does), and
    then fails as a shut socket does."""

    made: ClassVar[list[_BlockingWatch]] = []

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.stopped = threading.Event()
        _BlockingWatch.made.append(self)

    def stream(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.entered.set()
        if not self.stopped.wait(timeout=30):
            return  # ended by its own timeout: the test fails on `stopped` below
        raise RESET
        yield  # a generator, as the client's stream is

    def stop(self) -> None:
        self.stopped.set()


def test_stop_ends_a_waiting_watch_call_at_once_with_no_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """stop() does not wait for an idle watch call to time out (up to 2 s after every
    proof): it stops the call, and the error of its shut socket is no outage."""
    monkeypatch.setattr(timeline.watch, "Watch", _BlockingWatch)
    _BlockingWatch.made.clear()
    core = SimpleNamespace(list_namespaced_pod=None, list_namespaced_event=None)
    kube = SimpleNamespace(core=core)
    rec = TimelineRecorder(cast(Kube, kube), "ns").start()
    for _ in range(100):
        if len(_BlockingWatch.made) == 2 and all(w.entered.is_set() for w in _BlockingWatch.made):
            break
        threading.Event().wait(0.05)
    rec.stop()
    assert len(_BlockingWatch.made) == 2  # pods and events, each stopped by stop()
    assert all(w.stopped.is_set() for w in _BlockingWatch.made)
    assert not any(t.is_alive() for t in rec._threads)
    assert rec.gaps == [] and rec.errors == []


@pytest.mark.usefixtures("fast_retries")
def test_the_gap_ends_only_after_the_catch_up_delivered_by_the_first_call_back() -> None:
    rec, _ = _recorder(REFUSED, _added("web-1", "10"))
    rec._watch_pods()
    (gap,) = rec.gaps
    (created,) = rec.of("pod_created")
    # Stamped with its arrival after the outage: inside the gap, not after it.
    assert gap.start <= created.t <= gap.end


@pytest.mark.usefixtures("fast_retries")
def test_a_too_old_resource_version_relists_without_a_gap() -> None:
    rec, script = _recorder(_added("web-1", "10"), ApiException(status=410), _added("web-2", "3"))
    rec._watch_pods()
    assert rec.gaps == [] and rec.errors == []
    assert [c["resource_version"] for c in script.calls[:3]] == [None, "10", None]


@pytest.mark.usefixtures("fast_retries")
def test_a_forbidden_watch_is_an_error_at_once_not_an_outage() -> None:
    rec, script = _recorder(ApiException(status=403, reason="Forbidden"))
    rec._guard(rec._watch_pods, "_watch_pods")()
    assert len(script.calls) == 1 and rec.gaps == []
    assert rec.errors == ["_watch_pods: ApiException: (403)\nReason: Forbidden\n"]


@pytest.mark.usefixtures("fast_retries")
def test_an_outage_longer_than_the_bound_ends_as_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline, "_OUTAGE_BOUND_S", 0.05)
    rec, script = _recorder(*[REFUSED] * 10_000)
    rec._guard(rec._watch_pods, "_watch_pods")()
    (error,) = rec.errors
    assert error.startswith("_watch_pods: WatchOutageError: the pods source was cut off")
    assert "Connection refused" in error
    assert 1 < len(script.calls) < 10_000 and rec.gaps == []


class _LogResponse:
    def __init__(self, chunks: list[bytes], then: BaseException | None = None) -> None:
        self.chunks, self.then = chunks, then

    def stream(self, amt: int) -> Iterator[bytes]:
        yield from self.chunks
        if self.then is not None:
            raise self.then

    def release_conn(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def _container(running: bool) -> V1Pod:
    state = V1ContainerState(
        running=V1ContainerStateRunning() if running else None,
        terminated=None if running else V1ContainerStateTerminated(exit_code=0),
    )
    status = V1ContainerStatus(
        name="app", image="x", image_id="", ready=running, restart_count=0, state=state
    )
    return V1Pod(
        metadata=V1ObjectMeta(name="web-1"), status=V1PodStatus(container_statuses=[status])
    )


def _exited(pod: str, namespace: str, **kwargs: Any) -> V1Pod:
    return _container(running=False)


def _line(event: str, t: float) -> bytes:
    return json.dumps({"event": event, "t": t, "pod": "web-1"}).encode() + b"\n"


@pytest.mark.usefixtures("fast_retries")
def test_a_cut_app_log_resumes_with_the_lines_since_the_cut_each_recorded_once() -> None:
    calls: list[dict[str, Any]] = []
    answers = [
        _LogResponse([_line("sigterm", T0), b'{"event": "hook_st'], then=RESET),
        _LogResponse([_line("sigterm", T0), _line("hook_start", T0 + 1), _line("exit", T0 + 2)]),
    ]

    def read_log(pod: str, namespace: str, **kwargs: Any) -> _LogResponse:
        calls.append(kwargs)
        return answers.pop(0)

    kube = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_pod_log=read_log, read_namespaced_pod=_exited)
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    rec._guard(lambda: rec._read_log("web-1", "app"), "log web-1/app")()

    assert rec.errors == []
    assert [(e.kind, e.t) for e in rec.events() if e.kind != GAP_KIND] == [
        ("sigterm", T0),
        ("hook_start", T0 + 1),
        ("app_exit", T0 + 2),
    ]
    (gap,) = rec.gaps
    assert gap.source == "app log web-1/app" and gap.error.startswith("ProtocolError")
    assert "since_seconds" not in calls[0] and calls[1]["since_seconds"] >= 2


@pytest.mark.usefixtures("fast_retries")
def test_a_log_that_ends_while_its_container_runs_is_followed_again_with_a_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(timeline, "_LOG_END_SETTLE_S", 0.05)
    monkeypatch.setattr(timeline, "_LOG_END_POLL_S", 0.01)
    # The API server or the kubelet closed the stream (a restart, an idle timeout): a
    # clean end, but the container still runs, so it is a cut, not the app's end.
    calls: list[dict[str, Any]] = []
    answers = [
        _LogResponse([_line("sigterm", T0)]),
        _LogResponse([_line("sigterm", T0), _line("exit", T0 + 2)]),
    ]

    def read_log(pod: str, namespace: str, **kwargs: Any) -> _LogResponse:
        calls.append(kwargs)
        return answers.pop(0)

    def read_pod(pod: str, namespace: str, **kwargs: Any) -> V1Pod:
        # Running through the settle time after the first end; exited after the second.
        return _container(running=len(calls) == 1)

    kube = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_pod_log=read_log, read_namespaced_pod=read_pod)
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    rec._guard(lambda: rec._read_log("web-1", "app"), "log web-1/app")()

    assert rec.errors == [] and len(calls) == 2
    assert [e.kind for e in rec.events() if e.kind != GAP_KIND] == ["sigterm", "app_exit"]
    (gap,) = rec.gaps
    assert "ended while the container ran" in gap.error
    assert calls[1]["since_seconds"] >= 1


def test_the_replay_after_a_log_ended_under_a_running_container_reaches_back_to_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The settle (10 s) is longer than the replay's margin: the cut begins where the
    # stream ended, not where the check gave up, or the lines written meanwhile are lost.
    clock = _Clock(T0)
    answers: list[Any] = [_LogResponse([_line("start", T0)]), _LogResponse([])]
    running = [True]

    def read_pod(pod: str, namespace: str, **kwargs: Any) -> V1Pod:
        return _container(running=running[0])

    def read_log(pod: str, namespace: str, **kwargs: Any) -> Any:
        calls.append((clock.now, kwargs))
        answer = answers.pop(0)
        if not answers:
            running[0] = False
        return answer

    monkeypatch.setattr(timeline, "time", clock)
    calls: list[tuple[float, dict[str, Any]]] = []
    kube = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_pod_log=read_log, read_namespaced_pod=read_pod)
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    rec._stop = _Stop(clock)  # type: ignore[assignment]
    rec._guard(lambda: rec._read_log("web-1", "app", 0), "log web-1/app")()
    assert rec.errors == [] and len(calls) == 2
    (gap,) = rec.gaps
    assert gap.start == T0, gap
    replayed_from = calls[1][0] - calls[1][1]["since_seconds"]
    assert replayed_from <= T0, (calls[1], T0)


def test_a_log_whose_container_exit_is_reported_late_is_still_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stream ends at the exit; the kubelet reports it a moment later, and a new run
    # of the container (a restart) is not the one that was followed.
    monkeypatch.setattr(timeline, "_LOG_END_POLL_S", 0.001)
    calls: list[dict[str, Any]] = []
    answers = iter([_container(running=True), _container(running=True)])

    def read_log(pod: str, namespace: str, **kwargs: Any) -> _LogResponse:
        calls.append(kwargs)
        return _LogResponse([_line("exit", T0)])

    def read_pod(pod: str, namespace: str, **kwargs: Any) -> V1Pod:
        restarted = _container(running=True)
        restarted.status.container_statuses[0].restart_count = 1
        return next(answers, restarted)

    kube = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_pod_log=read_log, read_namespaced_pod=read_pod)
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    rec._guard(lambda: rec._read_log("web-1", "app", 0), "log web-1/app")()
    assert len(calls) == 1 and rec.gaps == [] and rec.errors == []


def test_a_log_that_ends_with_its_container_is_read_once() -> None:
    calls: list[dict[str, Any]] = []

    def read_log(pod: str, namespace: str, **kwargs: Any) -> _LogResponse:
        calls.append(kwargs)
        return _LogResponse([_line("exit", T0)])

    kube = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_pod_log=read_log, read_namespaced_pod=_exited)
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    rec._guard(lambda: rec._read_log("web-1", "app"), "log web-1/app")()
    assert len(calls) == 1 and rec.gaps == [] and rec.errors == []


class _Clock:
    """The timeline module's clock, moved by hand; its stop event's waits move it too."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


class _Stop:
    def __init__(self, clock: _Clock) -> None:
        self.clock, self.flag = clock, False

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        self.flag = True

    def wait(self, seconds: float) -> bool:
        self.clock.now += seconds
        return self.flag


class _IdleThenReset(_LogResponse):
    """A stream that gives its lines, then nothing for `idle` s, then breaks."""

    def __init__(self, chunks: list[bytes], clock: _Clock, idle: float) -> None:
        super().__init__(chunks, then=RESET)
        self.clock, self.idle = clock, idle

    def stream(self, amt: int) -> Iterator[bytes]:
        yield from self.chunks
        self.clock.now += self.idle
        raise RESET


def _followed(
    monkeypatch: pytest.MonkeyPatch, clock: _Clock, answers: list[Any]
) -> tuple[TimelineRecorder, list[tuple[float, dict[str, Any]]]]:
    monkeypatch.setattr(timeline, "time", clock)
    calls: list[tuple[float, dict[str, Any]]] = []

    def read_log(pod: str, namespace: str, **kwargs: Any) -> Any:
        calls.append((clock.now, kwargs))
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    kube = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_pod_log=read_log, read_namespaced_pod=_exited)
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    rec._stop = _Stop(clock)  # type: ignore[assignment]
    rec._guard(lambda: rec._read_log("web-1", "app"), "log web-1/app")()
    return rec, calls


def test_an_idle_log_cut_once_is_followed_again_and_its_gap_begins_at_the_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sample app writes a line at its start and none until SIGTERM: 70 s of quiet,
    # then the connection breaks. The stream was current until it broke.
    clock = _Clock(T0)
    answers: list[Any] = [_IdleThenReset([_line("start", T0)], clock, 70.0), _LogResponse([])]
    rec, calls = _followed(monkeypatch, clock, answers)
    assert rec.errors == [] and len(calls) == 2
    (gap,) = rec.gaps
    assert gap.start == T0 + 70.0, gap


def test_the_replay_after_a_long_outage_reaches_back_to_the_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = urllib3.exceptions.MaxRetryError(None, "/log", reason="Connection refused")  # type: ignore[arg-type]
    clock = _Clock(T0)
    answers: list[Any] = [_IdleThenReset([_line("start", T0)], clock, 0.0)]
    answers += [refused] * 12 + [_LogResponse([])]
    rec, calls = _followed(monkeypatch, clock, answers)
    (gap,) = rec.gaps
    reconnected_at, kwargs = calls[-1]
    assert reconnected_at - gap.start > 15, (reconnected_at, gap)
    assert kwargs["since_seconds"] >= reconnected_at - gap.start, kwargs


# the verdict --------------------------------------------------------------------------
WINDOW = TerminationWindow("web-1", T0 + 10, T0 + 20)


def _counts() -> Counts:
    return Counts(
        total=100, failed=0, in_windows=30, failed_in_windows=0, windows=1, windows_covered=1
    )


def test_a_gap_inside_a_window_fails_a_clean_run_and_names_the_gap_and_the_window() -> None:
    gap = WatchGap("pods", T0 + 12.0, T0 + 18.5, "MaxRetryError: Connection refused")
    verdict = judge("no-errors", _counts(), gaps=[gap], windows=[WINDOW], t0=T0)
    assert not verdict.passed
    assert verdict.message.startswith(
        "the timeline has a gap inside termination windows: the pods watch was cut from "
        "+12.0 s to +18.5 s of the run (MaxRetryError: Connection refused), across the "
        "termination window of pod web-1 (+10.0 s to +20.0 s)"
    )
    assert "Without the gap it would pass: 0 of 100 requests failed" in verdict.message


def test_a_gap_inside_a_window_fails_a_negative_control_too() -> None:
    counts = Counts(
        total=100, failed=5, in_windows=30, failed_in_windows=5, windows=1, windows_covered=1
    )
    gap = WatchGap("pods", T0 + 19.0, T0 + 25.0, "ProtocolError: reset")
    assert judge("errors", counts).passed
    verdict = judge("errors", counts, gaps=[gap], windows=[WINDOW], t0=T0)
    assert not verdict.passed and "the pods watch was cut" in verdict.message


@pytest.mark.parametrize("source", ["endpointslices", "events", "app log web-1/app"])
def test_a_gap_of_a_source_windows_do_not_depend_on_is_reported_not_judged(source: str) -> None:
    gap = WatchGap(source, T0 + 12.0, T0 + 18.5, "ProtocolError: reset")
    verdict = judge("no-errors", _counts(), gaps=[gap], windows=[WINDOW], t0=T0)
    assert verdict.passed, verdict.message
    assert "that no termination window depends on (reported, not judged)" in verdict.message


def test_a_gap_outside_every_window_is_reported_and_does_not_fail() -> None:
    gap = WatchGap("events", T0 + 25.0, T0 + 27.0, "MaxRetryError: Connection refused")
    verdict = judge("no-errors", _counts(), gaps=[gap], windows=[WINDOW], t0=T0)
    assert verdict.passed
    assert verdict.message.endswith(
        "; the timeline has a gap that no termination window depends on (reported, not "
        "judged): "
        "the events watch was cut from +25.0 s to +27.0 s of the run "
        "(MaxRetryError: Connection refused)"
    )


def test_a_pods_gap_during_the_disruption_fails_even_with_no_window_in_it() -> None:
    # A pod deleted and gone while the pods watch was blind (after a 410 the watch lists
    # again, and a pod gone by then is not in the list) leaves no window at all: the
    # gap overlaps no window, but the disruption acted inside it.
    gap = WatchGap("pods", T0 + 30.0, T0 + 40.0, "MaxRetryError: Connection refused")
    assert judge("no-errors", _counts(), gaps=[gap], windows=[WINDOW], t0=T0).passed
    verdict = judge(
        "no-errors", _counts(), gaps=[gap], windows=[WINDOW], t0=T0, disruption=(T0 + 9, T0 + 35)
    )
    assert not verdict.passed
    assert verdict.message.startswith("the timeline has a gap during the disruption: ")
    assert (
        "the pods watch was cut from +30.0 s to +40.0 s of the run (MaxRetryError: Connection "
        "refused), while the disruption acted (+9.0 s to +35.0 s), where a pod deleted and "
        "gone inside the gap leaves no window" in verdict.message
    )


def test_a_gap_of_a_source_not_judged_during_the_disruption_is_reported_plainly() -> None:
    gap = WatchGap("app log web-1/app", T0 + 30.0, T0 + 40.0, "ProtocolError: reset")
    verdict = judge(
        "no-errors", _counts(), gaps=[gap], windows=[WINDOW], t0=T0, disruption=(T0 + 9, T0 + 35)
    )
    assert verdict.passed and "(reported, not judged)" in verdict.message
    assert "leaves no window" not in verdict.message


def test_a_gap_after_the_disruption_and_its_windows_is_only_reported() -> None:
    gap = WatchGap("pods", T0 + 36.0, T0 + 40.0, "ProtocolError: reset")
    verdict = judge(
        "no-errors", _counts(), gaps=[gap], windows=[WINDOW], t0=T0, disruption=(T0 + 9, T0 + 35)
    )
    assert verdict.passed and "(reported, not judged)" in verdict.message


def test_an_informative_result_with_a_gap_in_a_window_still_passes_and_says_so() -> None:
    gap = WatchGap("pods", T0 + 12.0, T0 + 13.0, "x")
    verdict = judge("informative", _counts(), gaps=[gap], windows=[WINDOW], t0=T0)
    assert verdict.passed and "a gap inside termination windows" in verdict.message


# the result ---------------------------------------------------------------------------
def _result(gap: WatchGap) -> ScenarioResult:
    records = [RequestRecord(T0 + i / 10, 0.01, True, 200, None, "web-1") for i in range(300)]
    timeline_events = [
        TimelineEvent(T0 + 10, "pod_deleted", "web-1"),
        TimelineEvent(T0 + 17, "pod_gone", "web-1"),
        gap.event(),
    ]
    subject = Subject("web--delete-one-by-one--new", "web", "new", "no-errors")
    measurement = Measurement(
        cluster=ClusterInfo("existing", "local", "v1.34.4"),
        disruption=DisruptionRecord("delete-one-by-one", T0 + 10, T0 + 11),
        load={"users": 1},
        records=records,
        timeline=timeline_events,
        started=T0,
        finished=T0 + 30,
    )
    return ScenarioResult.build(subject, measurement, name="web")


def test_a_result_keeps_its_gaps_judges_them_and_reads_back(tmp_path: Path) -> None:
    inside = _result(WatchGap("pods", T0 + 12, T0 + 15, "MaxRetryError: Connection refused"))
    assert [g.source for g in inside.gaps] == ["pods"]
    assert not inside.verdict.passed and "the pods watch was cut" in inside.verdict.message
    said = "; 1 timeline gaps (the API connection cut, longest 3.0 s), 1 of the pods watch inside"
    assert said in inside.headline()
    assert load_json(inside.write_json(tmp_path)) == inside

    outside = _result(WatchGap("pods", T0 + 25, T0 + 26, "MaxRetryError: Connection refused"))
    assert outside.verdict.passed and "that no termination window depends on" in (
        outside.verdict.message
    )


def test_a_result_written_before_gaps_existed_reads_back_without_any(tmp_path: Path) -> None:
    result = _result(WatchGap("pods", T0 + 25, T0 + 26, "x"))
    data = result.to_dict()
    del data["gaps"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert load_json(path).gaps == []


def test_a_signal_nginx_logs_is_a_container_signal_of_that_container_once() -> None:
    # nginx writes no JSON: its notice of a signal is what says which one the runtime
    # sent (graceproof.log_signals); a replay after a cut does not record it twice.
    notice = b"2026/12/06 18:30:01 [notice] 1#1: signal 15 (SIGTERM) received from 1, exiting\n"
    answers = [
        _LogResponse([b"nginx: starting\n", notice], then=urllib3.exceptions.ProtocolError("cut")),
        _LogResponse([notice, b"2026/12/06 18:30:02 [notice] 1#1: exit\n"]),
    ]

    def read_log(pod: str, namespace: str, **kwargs: Any) -> _LogResponse:
        return answers.pop(0)

    kube = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_pod_log=read_log, read_namespaced_pod=_exited)
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns")
    rec._guard(lambda: rec._read_log("web-1", "proxy"), "log web-1/proxy")()
    signals = [e for e in rec.events() if e.kind == "container_signal"]
    assert [(e.pod, e.detail["container"], e.detail["signal"]) for e in signals] == [
        ("web-1", "proxy", "SIGTERM")
    ]
    assert signals[0].t == calendar.timegm((2026, 12, 6, 18, 30, 1, 0, 0, 0))
