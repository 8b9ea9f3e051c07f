"""What the timeline makes of recorded watch events: pods, EndpointSlices, Events.

The watch objects are the kubernetes client's own models, as a watch delivers them,
including what a real watch does: repeated states, late MODIFIED events, restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from kubernetes.client import (
    CoreV1Event,
    V1Container,
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1Endpoint,
    V1EndpointConditions,
    V1EndpointSlice,
    V1ObjectMeta,
    V1ObjectReference,
    V1Pod,
    V1PodCondition,
    V1PodSpec,
    V1PodStatus,
)

from graceproof.kube import Kube
from graceproof.model import TimelineEvent
from graceproof.timeline import TimelineRecorder
from graceproof.timeline_trackers import (
    EndpointTracker,
    EventTracker,
    PodTracker,
    running_containers,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)  # API time of the pod's creation
NOW = T0.timestamp() + 10.25  # watch time: sub-second, unlike API times


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def terminations(events: list[TimelineEvent]) -> list[TimelineEvent]:
    return [e for e in events if e.kind == "container_terminated"]


def kinds(events: list[TimelineEvent]) -> list[str]:
    return [e.kind for e in events]


# builders ---------------------------------------------------------------------------
def running(name: str = "app", restarts: int = 0, **extra: Any) -> V1ContainerStatus:
    return V1ContainerStatus(
        name=name,
        image="img",
        image_id="img@sha",
        ready=True,
        restart_count=restarts,
        state=V1ContainerState(running=V1ContainerStateRunning(started_at=at(1))),
        **extra,
    )


def terminated(
    name: str = "app",
    restarts: int = 0,
    reason: str = "Completed",
    exit_code: int = 0,
    finished: datetime | None = None,
) -> V1ContainerStatus:
    return V1ContainerStatus(
        name=name,
        image="img",
        image_id="img@sha",
        ready=False,
        restart_count=restarts,
        state=V1ContainerState(
            terminated=V1ContainerStateTerminated(
                reason=reason, exit_code=exit_code, started_at=at(1), finished_at=finished or at(8)
            )
        ),
    )


def restarted(
    name: str = "app", restarts: int = 1, finished: datetime | None = None
) -> V1ContainerStatus:
    """Running again after a crash: the crash is in last_state."""
    last = V1ContainerStateTerminated(
        reason="Error", exit_code=137, started_at=at(1), finished_at=finished
    )
    return running(name, restarts, last_state=V1ContainerState(terminated=last))


def pod(
    name: str = "web-1",
    *,
    ready: bool = False,
    deleted: datetime | None = None,
    grace: int | None = None,
    created: datetime | None = T0,
    containers: list[V1ContainerStatus] | None = None,
    inits: dict[str, str | None] | None = None,
    init_statuses: list[V1ContainerStatus] | None = None,
) -> V1Pod:
    """`inits`: the init containers of its spec, name -> restartPolicy ("Always": a
    native sidecar)."""
    spec = None
    if inits is not None:
        spec = V1PodSpec(
            containers=[V1Container(name="app")],
            init_containers=[V1Container(name=n, restart_policy=p) for n, p in inits.items()],
        )
    return V1Pod(
        metadata=V1ObjectMeta(
            name=name,
            creation_timestamp=created,
            deletion_timestamp=deleted,
            deletion_grace_period_seconds=grace,
        ),
        spec=spec,
        status=V1PodStatus(
            conditions=[V1PodCondition(type="Ready", status="True" if ready else "False")],
            container_statuses=containers,
            init_container_statuses=init_statuses,
        ),
    )


def endpoint(
    pod_name: str | None,
    *,
    ready: bool = True,
    serving: bool | None = None,
    terminating: bool = False,
    address: str = "10.0.0.1",
    kind: str = "Pod",
) -> V1Endpoint:
    return V1Endpoint(
        addresses=[address],
        conditions=V1EndpointConditions(
            ready=ready, serving=ready if serving is None else serving, terminating=terminating
        ),
        target_ref=None if pod_name is None else V1ObjectReference(kind=kind, name=pod_name),
    )


def endpoint_slice(name: str, *endpoints: V1Endpoint) -> V1EndpointSlice:
    return V1EndpointSlice(
        address_type="IPv4", metadata=V1ObjectMeta(name=name), endpoints=list(endpoints)
    )


def k8s_event(
    uid: str = "ev-1",
    *,
    reason: str = "Killing",
    count: int | None = 1,
    event_time: datetime | None = None,
    last: datetime | None = None,
    first: datetime | None = None,
    kind: str = "Pod",
    name: str = "web-1",
) -> CoreV1Event:
    return CoreV1Event(
        metadata=V1ObjectMeta(uid=uid),
        involved_object=V1ObjectReference(kind=kind, name=name),
        reason=reason,
        message=f"{reason} {name}",
        type="Normal",
        count=count,
        event_time=event_time,
        last_timestamp=last,
        first_timestamp=first,
    )


# pods -------------------------------------------------------------------------------
def test_first_sight_of_a_pod_reports_creation_at_its_api_time() -> None:
    events = PodTracker().apply("ADDED", pod(), NOW)
    assert events == [TimelineEvent(T0.timestamp(), "pod_created", "web-1")]


def test_pod_without_creation_timestamp_is_created_at_watch_time() -> None:
    events = PodTracker().apply("ADDED", pod(created=None), NOW)
    assert events == [TimelineEvent(NOW, "pod_created", "web-1")]


def test_repeated_modified_with_the_same_state_reports_nothing_new() -> None:
    tracker = PodTracker()
    state = pod(ready=True, deleted=at(9), grace=30, containers=[terminated()])
    first = tracker.apply("MODIFIED", state, NOW)
    assert kinds(first) == ["pod_created", "pod_ready", "pod_deleted", "container_terminated"]
    assert tracker.apply("MODIFIED", state, NOW + 1) == []
    assert tracker.apply("MODIFIED", state, NOW + 2) == []


def test_ready_is_reported_on_each_change_to_true_when_it_flaps() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(), NOW)
    seen = [
        tracker.apply("MODIFIED", pod(ready=r), NOW + i)
        for i, r in enumerate([True, True, False, True], start=1)
    ]
    assert seen == [
        [TimelineEvent(NOW + 1, "pod_ready", "web-1")],
        [],
        [],
        [TimelineEvent(NOW + 4, "pod_ready", "web-1")],
    ]


def test_deletion_request_is_reported_once_with_grace_and_deletion_timestamp() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(ready=True), NOW)
    events = tracker.apply("MODIFIED", pod(ready=True, deleted=at(40), grace=30), NOW + 1)
    assert events == [
        TimelineEvent(
            NOW + 1,
            "pod_deleted",
            "web-1",
            {"grace_seconds": 30, "deletion_timestamp": str(at(40))},
        )
    ]
    later = pod(ready=False, deleted=at(40), grace=30)
    assert tracker.apply("MODIFIED", later, NOW + 2) == []


def test_added_of_an_already_terminating_pod_reports_creation_and_deletion() -> None:
    events = PodTracker().apply("ADDED", pod(ready=True, deleted=at(40), grace=30), NOW)
    assert kinds(events) == ["pod_created", "pod_ready", "pod_deleted"]
    assert [e.t for e in events] == [T0.timestamp(), NOW, NOW]


def test_container_termination_carries_reason_exit_code_and_api_times() -> None:
    tracker = PodTracker()
    events = tracker.apply(
        "MODIFIED", pod(containers=[terminated(reason="Error", exit_code=143)]), NOW
    )
    assert events[-1] == TimelineEvent(
        NOW,
        "container_terminated",
        "web-1",
        {
            "container": "app",
            "reason": "Error",
            "exit_code": 143,
            "started_at": at(1).timestamp(),
            "finished_at": at(8).timestamp(),
        },
    )


def test_termination_seen_before_deletion_timestamp_is_reported_once() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(ready=True, containers=[running()]), NOW)
    first = tracker.apply("MODIFIED", pod(containers=[terminated()]), NOW + 1)
    assert kinds(first) == ["container_terminated"]
    deleting = pod(deleted=at(9), grace=30, containers=[terminated()])
    late = tracker.apply("MODIFIED", deleting, NOW + 2)
    assert kinds(late) == ["pod_deleted"]


def test_each_container_of_a_pod_reports_its_own_termination() -> None:
    tracker = PodTracker()
    both = [terminated("app"), terminated("sidecar", exit_code=2)]
    events = tracker.apply("MODIFIED", pod(created=None, containers=both), NOW)
    terminations = [e for e in events if e.kind == "container_terminated"]
    assert [(e.detail["container"], e.detail["exit_code"]) for e in terminations] == [
        ("app", 0),
        ("sidecar", 2),
    ]


def test_a_native_sidecar_reports_its_start_and_its_termination_marked_sidecar() -> None:
    tracker = PodTracker()
    inits = {"setup": None, "proxy": "Always"}
    tracker.apply("ADDED", pod(inits=inits, init_statuses=[running("proxy")]), NOW)
    ended = pod(
        deleted=at(9),
        inits=inits,
        containers=[terminated("app", finished=at(14))],
        init_statuses=[terminated("setup", finished=at(0)), terminated("proxy", finished=at(15))],
    )
    events = terminations(tracker.apply("MODIFIED", ended, NOW + 6))
    assert [(e.detail["container"], e.detail.get("sidecar")) for e in events] == [
        ("app", None),
        ("proxy", True),
    ]
    assert events[1].detail["finished_at"] == at(15).timestamp()


def test_a_native_sidecar_start_is_reported_and_marked() -> None:
    events = PodTracker().apply(
        "ADDED", pod(created=None, inits={"proxy": "Always"}, init_statuses=[running("proxy")]), NOW
    )
    assert [(e.kind, e.detail) for e in events] == [
        ("pod_created", {}),
        ("container_started", {"container": "proxy", "restart_count": 0, "sidecar": True}),
    ]


def test_init_containers_that_ran_to_completion_report_nothing() -> None:
    # They ended before the pod served: a "termination" of theirs would end a window.
    done = pod(created=None, inits={"setup": None}, init_statuses=[terminated("setup")])
    assert kinds(PodTracker().apply("ADDED", done, NOW)) == ["pod_created"]


def test_restart_in_place_reports_the_last_termination_at_its_finish_time() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(ready=True, containers=[running()]), NOW)
    events = terminations(
        tracker.apply("MODIFIED", pod(containers=[restarted(finished=at(5))]), NOW + 1)
    )
    assert events == [
        TimelineEvent(
            at(5).timestamp(),
            "container_terminated",
            "web-1",
            {"container": "app", "reason": "Error", "exit_code": 137, "restart_count": 1},
        )
    ]
    assert tracker.apply("MODIFIED", pod(containers=[restarted(finished=at(5))]), NOW + 2) == []


def test_last_termination_without_finish_time_is_stamped_with_watch_time() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(), NOW)
    events = tracker.apply("MODIFIED", pod(containers=[restarted(finished=None)]), NOW + 1)
    assert [(e.kind, e.t) for e in terminations(events)] == [("container_terminated", NOW + 1)]


def test_termination_seen_live_is_not_reported_again_as_last_state_after_restart() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(), NOW)
    crashed = tracker.apply("MODIFIED", pod(containers=[terminated(restarts=0)]), NOW + 1)
    assert kinds(crashed) == ["container_terminated"]
    after = tracker.apply("MODIFIED", pod(containers=[restarted(restarts=1)]), NOW + 2)
    assert kinds(after) == ["container_started"]  # the restarted container, not its crash


def test_second_crash_after_a_restart_is_a_new_termination() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(containers=[terminated(restarts=0)]), NOW)
    events = tracker.apply("MODIFIED", pod(containers=[terminated(restarts=1)]), NOW + 1)
    assert kinds(events) == ["container_terminated"]


def test_deleted_reports_pod_gone_at_watch_time() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(ready=True), NOW)
    gone = tracker.apply("DELETED", pod(deleted=at(9), containers=[terminated()]), NOW + 3)
    assert gone == [TimelineEvent(NOW + 3, "pod_gone", "web-1")]


def test_modified_delivered_after_deleted_reports_nothing_already_reported() -> None:
    tracker = PodTracker()
    final = pod(deleted=at(9), grace=30, containers=[terminated()])
    tracker.apply("ADDED", pod(ready=True, containers=[running()]), NOW)
    tracker.apply("MODIFIED", final, NOW + 1)
    tracker.apply("DELETED", final, NOW + 2)
    assert tracker.apply("MODIFIED", final, NOW + 3) == []


def test_pods_are_tracked_apart() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod("web-1", ready=True, deleted=at(9)), NOW)
    events = tracker.apply("ADDED", pod("web-2", ready=True, deleted=at(9)), NOW)
    assert kinds(events) == ["pod_created", "pod_ready", "pod_deleted"]
    assert {e.pod for e in events} == {"web-2"}


def test_running_containers_name_the_log_to_follow_per_restart() -> None:
    state = pod(containers=[restarted("app", restarts=2), terminated("init")])
    assert running_containers("MODIFIED", state) == [("web-1", "app", 2)]


def test_deleted_pod_has_no_log_to_follow() -> None:
    assert running_containers("DELETED", pod(containers=[running()])) == []


def test_pod_without_container_statuses_has_no_log_to_follow() -> None:
    assert running_containers("ADDED", pod(containers=None)) == []


# EndpointSlices ---------------------------------------------------------------------
def test_new_ready_endpoint_is_reported_with_its_conditions_and_addresses() -> None:
    events = EndpointTracker().apply("ADDED", endpoint_slice("s1", endpoint("web-1")), NOW)
    assert events == [
        TimelineEvent(
            NOW,
            "endpoint_ready",
            "web-1",
            {"ready": True, "serving": True, "terminating": False, "addresses": ["10.0.0.1"]},
        )
    ]


def test_new_endpoint_that_is_not_ready_is_reported_not_ready() -> None:
    sl = endpoint_slice("s1", endpoint("web-1", ready=False))
    assert kinds(EndpointTracker().apply("ADDED", sl, NOW)) == ["endpoint_not_ready"]


def test_repeated_slice_with_the_same_endpoints_reports_nothing() -> None:
    tracker = EndpointTracker()
    sl = endpoint_slice("s1", endpoint("web-1"), endpoint("web-2", address="10.0.0.2"))
    assert kinds(tracker.apply("ADDED", sl, NOW)) == ["endpoint_ready", "endpoint_ready"]
    assert tracker.apply("MODIFIED", sl, NOW + 1) == []


def test_endpoint_going_ready_not_ready_ready_reports_each_change() -> None:
    tracker = EndpointTracker()
    steps = [
        endpoint("web-1"),
        endpoint("web-1", ready=False, serving=True, terminating=True),
        endpoint("web-1"),
    ]
    seen = [
        tracker.apply("MODIFIED", endpoint_slice("s1", ep), NOW + i) for i, ep in enumerate(steps)
    ]
    assert [[(e.kind, e.t) for e in step] for step in seen] == [
        [("endpoint_ready", NOW)],
        [("endpoint_not_ready", NOW + 1)],
        [("endpoint_ready", NOW + 2)],
    ]
    assert seen[1][0].detail == {
        "ready": False,
        "serving": True,
        "terminating": True,
        "addresses": ["10.0.0.1"],
    }


def test_only_a_change_of_ready_is_reported() -> None:
    tracker = EndpointTracker()
    tracker.apply("ADDED", endpoint_slice("s1", endpoint("web-1", ready=False)), NOW)
    draining = endpoint("web-1", ready=False, serving=True, terminating=True)
    assert tracker.apply("MODIFIED", endpoint_slice("s1", draining), NOW + 1) == []


def test_endpoint_leaving_the_slice_is_reported_removed() -> None:
    tracker = EndpointTracker()
    tracker.apply("ADDED", endpoint_slice("s1", endpoint("web-1"), endpoint("web-2")), NOW)
    events = tracker.apply("MODIFIED", endpoint_slice("s1", endpoint("web-2")), NOW + 1)
    assert events == [TimelineEvent(NOW + 1, "endpoint_removed", "web-1")]


def test_pod_in_two_slices_is_removed_only_when_gone_from_both() -> None:
    tracker = EndpointTracker()
    tracker.apply("ADDED", endpoint_slice("s1", endpoint("web-1")), NOW)
    assert tracker.apply("ADDED", endpoint_slice("s2", endpoint("web-1")), NOW + 1) == []
    assert tracker.apply("MODIFIED", endpoint_slice("s1"), NOW + 2) == []
    events = tracker.apply("MODIFIED", endpoint_slice("s2"), NOW + 3)
    assert events == [TimelineEvent(NOW + 3, "endpoint_removed", "web-1")]


def test_pod_in_two_slices_takes_the_conditions_of_the_later_slice() -> None:
    tracker = EndpointTracker()
    tracker.apply("ADDED", endpoint_slice("s1", endpoint("web-1")), NOW)
    events = tracker.apply("ADDED", endpoint_slice("s2", endpoint("web-1", ready=False)), NOW + 1)
    assert kinds(events) == ["endpoint_not_ready"]
    assert tracker.apply("MODIFIED", endpoint_slice("s1", endpoint("web-1")), NOW + 2) == []


def test_deleted_slice_removes_its_endpoints_but_not_those_of_other_slices() -> None:
    tracker = EndpointTracker()
    tracker.apply("ADDED", endpoint_slice("s1", endpoint("web-1")), NOW)
    tracker.apply("ADDED", endpoint_slice("s2", endpoint("web-2")), NOW)
    events = tracker.apply("DELETED", endpoint_slice("s1", endpoint("web-1")), NOW + 1)
    assert events == [TimelineEvent(NOW + 1, "endpoint_removed", "web-1")]


def test_deleted_of_an_unknown_slice_reports_nothing() -> None:
    tracker = EndpointTracker()
    tracker.apply("ADDED", endpoint_slice("s1", endpoint("web-1")), NOW)
    assert tracker.apply("DELETED", endpoint_slice("s9", endpoint("web-1")), NOW + 1) == []


def test_endpoints_that_are_not_pods_are_ignored() -> None:
    sl = endpoint_slice("s1", endpoint(None), endpoint("node-1", kind="Node"))
    assert EndpointTracker().apply("ADDED", sl, NOW) == []


def test_endpoint_without_conditions_counts_as_not_ready() -> None:
    ep = V1Endpoint(addresses=["10.0.0.1"], target_ref=V1ObjectReference(kind="Pod", name="web-1"))
    events = EndpointTracker().apply("ADDED", endpoint_slice("s1", ep), NOW)
    assert events == [
        TimelineEvent(
            NOW,
            "endpoint_not_ready",
            "web-1",
            {"ready": False, "serving": False, "terminating": False, "addresses": ["10.0.0.1"]},
        )
    ]


# Events -----------------------------------------------------------------------------
def test_event_about_a_pod_is_reported_with_reason_message_and_object() -> None:
    events = EventTracker(started=NOW - 5).apply("ADDED", k8s_event(last=at(9)), NOW)
    assert events == [
        TimelineEvent(
            NOW,
            "k8s_event",
            "web-1",
            {
                "reason": "Killing",
                "message": "Killing web-1",
                "type": "Normal",
                "count": 1,
                "object": "Pod/web-1",
            },
        )
    ]


def test_event_about_another_object_names_no_pod() -> None:
    ev = k8s_event(kind="Node", name="node-1", reason="NodeNotReady")
    (event,) = EventTracker(started=NOW).apply("ADDED", ev, NOW)
    assert event.pod is None
    assert event.detail["object"] == "Node/node-1"


def test_event_is_reported_once_per_uid_and_count() -> None:
    tracker = EventTracker(started=NOW)
    assert len(tracker.apply("ADDED", k8s_event(count=1), NOW)) == 1
    assert tracker.apply("MODIFIED", k8s_event(count=1), NOW + 1) == []
    again = tracker.apply("MODIFIED", k8s_event(count=2), NOW + 2)
    assert [(e.t, e.detail["count"]) for e in again] == [(NOW + 2, 2)]
    assert len(tracker.apply("ADDED", k8s_event("ev-2", count=1), NOW + 3)) == 1


def test_event_without_count_is_the_same_as_count_one() -> None:
    tracker = EventTracker(started=NOW)
    assert len(tracker.apply("ADDED", k8s_event(count=None), NOW)) == 1
    assert tracker.apply("MODIFIED", k8s_event(count=1), NOW + 1) == []


def test_deleted_event_reports_nothing() -> None:
    assert EventTracker(started=NOW).apply("DELETED", k8s_event(), NOW) == []


def test_event_from_before_the_recorder_keeps_its_api_time() -> None:
    started = at(20).timestamp()
    (event,) = EventTracker(started).apply("ADDED", k8s_event(last=at(18)), NOW)
    assert event.t == at(18).timestamp()


def test_event_within_a_second_of_the_start_gets_the_watch_time() -> None:
    started = at(20).timestamp()
    (event,) = EventTracker(started).apply("ADDED", k8s_event(last=at(19)), NOW)
    assert event.t == NOW


def test_event_without_api_time_gets_the_watch_time() -> None:
    (event,) = EventTracker(at(20).timestamp()).apply("ADDED", k8s_event(), NOW)
    assert event.t == NOW


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ({"event_time": at(3), "last": at(2), "first": at(1)}, at(3)),
        ({"last": at(2), "first": at(1)}, at(2)),
        ({"first": at(1)}, at(1)),
    ],
    ids=["event_time", "last_timestamp", "first_timestamp"],
)
def test_event_api_time_prefers_event_time_then_last_then_first_timestamp(
    times: dict[str, datetime], expected: datetime
) -> None:
    ev = k8s_event(
        event_time=times.get("event_time"), last=times.get("last"), first=times.get("first")
    )
    (event,) = EventTracker(at(20).timestamp()).apply("ADDED", ev, NOW)
    assert event.t == expected.timestamp()


# the recorder runs the trackers ------------------------------------------------------
Followed = list[tuple[str, str, int]]


def _recorder_fed(items: list[dict[str, Any]]) -> tuple[TimelineRecorder, Followed]:
    """A recorder whose watches deliver `items` and whose log following is recorded."""
    kube = SimpleNamespace(
        core=SimpleNamespace(list_namespaced_pod=None, list_namespaced_event=None),
        discovery=SimpleNamespace(list_namespaced_endpoint_slice=None),
    )
    rec = TimelineRecorder(cast(Kube, kube), "ns", service="web")
    followed: Followed = []

    def stream(source: str, list_fn: object, **kwargs: object) -> Iterator[dict[str, Any]]:
        return iter(items)

    def follow(pod: str, container: str, restart: int) -> None:
        followed.append((pod, container, restart))

    rec._stream = stream  # type: ignore[method-assign]
    rec._follow = follow  # type: ignore[method-assign]
    return rec, followed


def test_recorder_records_pod_events_and_follows_each_running_container() -> None:
    items = [
        {"type": "ADDED", "object": pod(ready=True, containers=[running()])},
        {"type": "MODIFIED", "object": pod(containers=[restarted(finished=at(5))])},
        {"type": "DELETED", "object": pod(containers=[running(restarts=1)])},
    ]
    rec, followed = _recorder_fed(items)
    rec._watch_pods()
    assert kinds(rec.events()) == [
        "pod_created",
        "container_started",
        "container_started",
        "container_terminated",
        "pod_ready",
        "pod_gone",
    ]
    assert followed == [("web-1", "app", 0), ("web-1", "app", 1)]


def test_recorder_records_endpoint_events() -> None:
    rec, _ = _recorder_fed([{"type": "ADDED", "object": endpoint_slice("s1", endpoint("web-1"))}])
    rec._watch_slices()
    assert [(e.kind, e.pod) for e in rec.events()] == [("endpoint_ready", "web-1")]


def test_recorder_records_k8s_events_once() -> None:
    ev = k8s_event()
    rec, _ = _recorder_fed([{"type": "ADDED", "object": ev}, {"type": "MODIFIED", "object": ev}])
    rec._watch_events()
    assert [(e.kind, e.pod) for e in rec.events()] == [("k8s_event", "web-1")]


def test_each_container_start_is_reported_once_per_restart_at_its_api_time() -> None:
    tracker = PodTracker()
    first = tracker.apply("ADDED", pod(containers=[running()]), NOW)
    assert [(e.kind, e.t, e.detail) for e in first if e.kind == "container_started"] == [
        ("container_started", at(1).timestamp(), {"container": "app", "restart_count": 0})
    ]
    assert "container_started" not in kinds(
        tracker.apply("MODIFIED", pod(containers=[running()]), NOW + 1)
    )
    again = tracker.apply("MODIFIED", pod(containers=[running(restarts=1)]), NOW + 2)
    assert [e.detail["restart_count"] for e in again if e.kind == "container_started"] == [1]


# nodes and force deletes --------------------------------------------------------------
def on_node(node: str | None, name: str = "web-1", **kw: Any) -> V1Pod:
    """A pod as `pod` builds it, bound to `node` (None: not scheduled yet)."""
    obj = pod(name, **kw)
    obj.spec = V1PodSpec(containers=[], node_name=node)
    return obj


def test_the_node_a_pod_runs_on_is_reported_once_when_it_is_bound() -> None:
    tracker = PodTracker()
    assert "pod_scheduled" not in kinds(tracker.apply("ADDED", on_node(None), NOW))
    bound = tracker.apply("MODIFIED", on_node("node-a"), NOW + 1)
    assert [(e.kind, e.t, e.detail) for e in bound] == [
        ("pod_scheduled", NOW + 1, {"node": "node-a"})
    ]
    assert tracker.apply("MODIFIED", on_node("node-a", ready=True), NOW + 2) == [
        TimelineEvent(NOW + 2, "pod_ready", "web-1")
    ]


def test_a_pod_first_seen_bound_reports_creation_then_its_node() -> None:
    events = PodTracker().apply("ADDED", on_node("node-a", ready=True), NOW)
    assert kinds(events) == ["pod_created", "pod_scheduled", "pod_ready"]


def test_a_replacement_reports_the_node_it_was_rescheduled_to() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", on_node("node-a", "web-1", ready=True), NOW)
    tracker.apply("MODIFIED", on_node("node-a", "web-1", deleted=at(9), grace=30), NOW + 1)
    events = tracker.apply("ADDED", on_node("node-b", "web-2"), NOW + 2)
    scheduled = [(e.pod, e.detail["node"]) for e in events if e.kind == "pod_scheduled"]
    assert scheduled == [("web-2", "node-b")]


def test_a_pod_force_deleted_unseen_gets_its_deletion_before_it_is_gone() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", on_node("node-a", ready=True), NOW)
    events = tracker.apply("DELETED", on_node("node-a", deleted=at(10), grace=0), NOW + 1)
    assert kinds(events) == ["pod_deleted", "pod_gone"]
    assert events[0].t == NOW + 1 and events[0].detail["grace_seconds"] == 0


def test_a_force_deleted_pod_never_scheduled_gets_no_deletion() -> None:
    # It ran nothing, so it had no requests to lose: a window would be false.
    tracker = PodTracker()
    tracker.apply("ADDED", on_node(None), NOW)
    events = tracker.apply("DELETED", on_node(None, deleted=at(10), grace=0), NOW + 1)
    assert kinds(events) == ["pod_gone"]


def test_a_force_delete_seen_only_at_removal_still_finds_the_node_seen_before() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", on_node("node-a", ready=True), NOW)
    # A DELETED object without spec (as some watch paths deliver it): the node was seen.
    events = tracker.apply("DELETED", pod(deleted=at(10), grace=0), NOW + 1)
    assert kinds(events) == ["pod_deleted", "pod_gone"]


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_finished_pod_removed_with_grace_zero_gets_no_deletion(phase: str) -> None:
    # The kubelet and the pod garbage collector remove finished pods with grace 0;
    # they had stopped serving already.
    tracker = PodTracker()
    tracker.apply("ADDED", on_node("node-a"), NOW)
    gone = on_node("node-a", deleted=at(10), grace=0)
    gone.status.phase = phase
    assert kinds(tracker.apply("DELETED", gone, NOW + 1)) == ["pod_gone"]


def test_a_deletion_already_seen_is_not_reported_again_when_the_kubelet_removes_the_pod() -> None:
    tracker = PodTracker()
    tracker.apply("ADDED", pod(ready=True), NOW)
    tracker.apply("MODIFIED", pod(deleted=at(40), grace=30), NOW + 1)
    # The kubelet removes a gracefully ended pod with grace 0.
    assert kinds(tracker.apply("DELETED", pod(deleted=at(40), grace=0), NOW + 5)) == ["pod_gone"]


def test_the_apps_outbound_calls_are_recorded_at_their_own_time_with_their_result() -> None:
    # One line per call (workloads/app/app_outbound.py); the pod is the app's own name.
    rec, _ = _recorder_fed([])
    ok = b'{"event": "outbound", "t": 5.25, "pod": "web-1", "ok": true, "status": 200, "ms": 2.1}'
    failed = (
        b'{"event": "outbound", "t": 5.5, "pod": "web-1", "ok": false, "status": 0, '
        b'"ms": 0.4, "error": "ConnectionRefusedError"}'
    )
    for line in (ok, failed, ok):  # the last: a replay after a cut, not a third call
        rec._app_line("web-1", "app", line)
    assert [(e.t, e.kind, e.pod, e.detail) for e in rec.events()] == [
        (5.25, "outbound_call", "web-1", {"ok": True, "status": 200, "ms": 2.1}),
        (
            5.5,
            "outbound_call",
            "web-1",
            {"ok": False, "status": 0, "ms": 0.4, "error": "ConnectionRefusedError"},
        ),
    ]
