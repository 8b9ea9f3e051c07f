"""A class per workload kind: its API calls and its readiness, named by a Target."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from graceproof.controllers import KINDS, Deployment, StatefulSet, controller_of
from graceproof.errors import WaitTimeout
from graceproof.registry import UnknownNameError


class RecordingApps:
    """Answers reads with `obj`, and records every call by the method's name."""

    def __init__(self, obj: Any = None) -> None:
        self.obj = obj
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **_: Any) -> Any:
            self.calls.append((method, args))
            return self.obj

        return call


def _target(kind: str) -> Any:
    return NS(kind=kind, name="web", replicas=3)


@pytest.mark.parametrize(
    ("kind", "patch", "scale"),
    [
        ("Deployment", "patch_namespaced_deployment", "patch_namespaced_deployment_scale"),
        ("StatefulSet", "patch_namespaced_stateful_set", "patch_namespaced_stateful_set_scale"),
    ],
)
def test_each_kind_makes_its_own_api_calls(kind: str, patch: str, scale: str) -> None:
    apps = RecordingApps()
    controller = controller_of(apps, "ns", _target(kind))
    assert type(controller) is KINDS[kind]
    controller.patch({"spec": {}})
    controller.scale(2)
    assert apps.calls == [
        (patch, ("web", "ns", {"spec": {}})),
        (scale, ("web", "ns", {"spec": {"replicas": 2}})),
    ]


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown workload kind 'DaemonSet'.*StatefulSet"):
        controller_of(RecordingApps(), "ns", _target("DaemonSet"))


def _statefulset(ready: int, current: str, update: str) -> NS:
    return NS(
        metadata=NS(generation=2),
        spec=NS(replicas=3),
        status=NS(
            observed_generation=2,
            ready_replicas=ready,
            updated_replicas=ready,
            current_revision=current,
            update_revision=update,
            conditions=None,
        ),
    )


def test_a_statefulset_is_ready_once_every_replica_runs_the_update_revision() -> None:
    ready = StatefulSet(RecordingApps(_statefulset(3, "r2", "r2")), "ns", "db").rolled_out()
    assert ready.what == "statefulset ns/db to be ready"
    assert ready.wait(1, interval=0.01).status.ready_replicas == 3
    rolling = StatefulSet(RecordingApps(_statefulset(3, "r1", "r2")), "ns", "db").rolled_out()
    with pytest.raises(WaitTimeout, match=r"statefulset ns/db: desired 3, ready 3.*r1 -> r2"):
        rolling.wait(0.05, interval=0.01)


def test_the_hpa_wait_is_written_once_for_every_kind() -> None:
    for cls in (Deployment, StatefulSet):
        obj = NS(spec=NS(replicas=2))
        scaled = cls(RecordingApps(obj), "ns", "web").scaled_to(3)
        with pytest.raises(WaitTimeout, match=f"{cls.kind.lower()}/web asks for 2 replicas"):
            scaled.wait(0.05, interval=0.01)
