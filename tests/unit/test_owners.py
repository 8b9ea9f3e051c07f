"""graceproof.owners: a pod is the target's when its owner chain leads to the target
controller, never by labels alone (a test double of the API for the selection logic;
tests/e2e/test_own_workload.py proves a chart with labelled test pods on a cluster)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from kubernetes.client import V1ObjectMeta, V1OwnerReference

from graceproof.kube import Kube
from graceproof.owners import owner_of, target_pods
from graceproof.workloads.base import Target


def _owned(name: str, kind: str | None, owner: str | None) -> Any:
    refs = (
        [V1OwnerReference(api_version="apps/v1", kind=kind, name=owner, uid="u", controller=True)]
        if kind and owner
        else None
    )
    return SimpleNamespace(metadata=V1ObjectMeta(name=name, owner_references=refs))


class _Api:
    def __init__(self, pods: list[Any], replica_sets: list[Any]) -> None:
        self.pods, self.replica_sets = pods, replica_sets
        self.selectors: list[str] = []

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> Any:
        self.selectors.append(kw["label_selector"])
        return SimpleNamespace(items=self.pods)

    def list_namespaced_replica_set(self, namespace: str, **kw: Any) -> Any:
        return SimpleNamespace(items=self.replica_sets)


def _target(kind: str = "Deployment") -> Target:
    return Target(kind=kind, name="web", selector="app=web", service="web", node_port=30080,
                  replicas=2, grace_seconds=30)  # fmt: skip


def test_only_pods_whose_replica_set_the_deployment_owns_are_its_pods() -> None:
    pods = [
        _owned("web-a1", "ReplicaSet", "web-a"),
        _owned("web-b1", "ReplicaSet", "web-b"),  # an older revision, still the target's
        _owned("web-grpc-test", None, None),  # a chart's test pod with the same labels
        _owned("other-1", "ReplicaSet", "other-x"),  # another Deployment's, same labels
        _owned("job-1", "Job", "migrate"),
    ]
    replica_sets = [
        _owned("web-a", "Deployment", "web"),
        _owned("web-b", "Deployment", "web"),
        _owned("other-x", "Deployment", "other"),
    ]
    api = _Api(pods, replica_sets)
    kube = cast(Kube, SimpleNamespace(core=api, apps=api))
    assert [p.metadata.name for p in target_pods(kube, "ns", _target())] == ["web-a1", "web-b1"]
    assert api.selectors == ["app=web"]


def test_a_statefulsets_pods_are_owned_by_it_directly() -> None:
    pods = [_owned("web-0", "StatefulSet", "web"), _owned("web-x", "StatefulSet", "db")]
    api = _Api(pods, [])
    kube = cast(Kube, SimpleNamespace(core=api, apps=api))
    assert [p.metadata.name for p in target_pods(kube, "ns", _target("StatefulSet"))] == ["web-0"]


def test_an_error_about_a_pod_can_name_its_owner() -> None:
    assert owner_of(_owned("web-a1", "ReplicaSet", "web-a")) == "replicaset/web-a"
    assert owner_of(_owned("web-grpc-test", None, None)) == "no owner"
