"""The target's pods: those its label selector matches *and* whose owner chain leads to
the target controller (Deployment -> ReplicaSet -> Pod; StatefulSet -> Pod).

Labels alone are not enough: a chart's test pods, a Job's or a debugging pod may carry
the workload's selector labels, and graceproof would then wait for, delete, or blame a
pod `helm install` never made (issue 23). Every place that picks the target's pods
(readiness, disruptions, diagnostics) goes through `target_pods`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graceproof.kube import REQUEST_TIMEOUT, Kube

if TYPE_CHECKING:
    from graceproof.workloads.base import Target

__all__ = ["owner_of", "target_pods"]


def _controller(obj: Any) -> Any | None:
    """The owner reference that is the object's controller, if any."""
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return ref
    return None


def owner_of(pod: Any) -> str:
    """`replicaset/web-5f7d9`, as kubectl names it, or "no owner"."""
    ref = _controller(pod)
    return f"{ref.kind.lower()}/{ref.name}" if ref is not None else "no owner"


def target_pods(kube: Kube, namespace: str, target: Target) -> list[Any]:
    """The pods of `target`'s controller (terminating ones included)."""
    pods = kube.core.list_namespaced_pod(
        namespace, label_selector=target.selector, _request_timeout=REQUEST_TIMEOUT
    ).items
    if target.kind == "Deployment":
        replica_sets = kube.apps.list_namespaced_replica_set(
            namespace, label_selector=target.selector, _request_timeout=REQUEST_TIMEOUT
        ).items
        owners = {
            rs.metadata.name
            for rs in replica_sets
            if (ref := _controller(rs)) is not None
            and ref.kind == "Deployment"
            and ref.name == target.name
        }
        return [
            p
            for p in pods
            if (ref := _controller(p)) is not None
            and ref.kind == "ReplicaSet"
            and ref.name in owners
        ]
    return [
        p
        for p in pods
        if (ref := _controller(p)) is not None
        and ref.kind == target.kind
        and ref.name == target.name
    ]
