"""The disruption seam: one small class per way of terminating a workload's pods.

A disruption takes pods away the way a user or a controller would, with the pods'
own grace period (never --grace-period or --force, which remove the behaviour under
test; the one exception is `DeleteWithGrace`, delete-grace, a negative control that
overrides the grace period on purpose), and records each step it takes
(`ctx.record.act`). Waits are bounded and named (graceproof.waiting). A new kind is
one subclass in a new module:

    @dataclass(frozen=True)
    class DeleteNewest(Disruption):
        kind: ClassVar[str] = "delete-newest"
        def run(self, ctx: DisruptionContext) -> None:
            pod = max(ctx.serving(), key=lambda p: p.metadata.creation_timestamp)
            ctx.delete_pod(pod.metadata.name)
            ctx.wait_serving(ctx.target.replicas, exclude={pod.metadata.uid})
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

from graceproof.action_log import DisruptionRecord
from graceproof.controllers import controller_of
from graceproof.kube import Kube
from graceproof.owners import target_pods
from graceproof.parameters import changed_parameters, parameters_of
from graceproof.registry import Registry
from graceproof.waiting import REQUEST_TIMEOUT, pod_is_ready, wait_for, workload_available
from graceproof.workloads.base import Target

__all__ = ["DISRUPTIONS", "Disruption", "DisruptionContext", "serving_pods", "wait_all_gone"]

log = logging.getLogger(__name__)


def serving_pods(kube: Kube, namespace: str, target: Target) -> list[Any]:
    """The target's pods (graceproof.owners) that are Ready and not terminating."""
    pods = target_pods(kube, namespace, target)
    return [p for p in pods if p.metadata.deletion_timestamp is None and pod_is_ready(p)]


def wait_all_gone(kube: Kube, namespace: str, names: Collection[str], *, timeout: float) -> None:
    """Wait until none of the named pods runs any more (their termination finished): each
    is gone, or kept in phase Failed or Succeeded (the kubelet keeps a pod it ended
    without a deletion, at a node's graceful shutdown)."""
    left: list[str] = []

    def probe() -> bool | None:
        pods = {
            p.metadata.name
            for p in kube.core.list_namespaced_pod(
                namespace, _request_timeout=REQUEST_TIMEOUT
            ).items
            if p.metadata.deletion_timestamp is not None
            or (p.status is None or p.status.phase not in ("Failed", "Succeeded"))
        }
        left[:] = sorted(set(names) & pods)
        return True if not left else None

    wait_for(
        probe,
        what=f"terminating pods to finish ({len(names)})",
        timeout=timeout,
        describe=lambda: f"still there: {left}",
    )


@dataclass(frozen=True)
class DisruptionContext:
    """What a disruption acts on, and the record it writes."""

    kube: Kube
    namespace: str
    target: Target
    record: DisruptionRecord

    def serving(self) -> list[Any]:
        """The target's pods that are Ready and not terminating."""
        return serving_pods(self.kube, self.namespace, self.target)

    def delete_pod(self, name: str) -> None:
        """Delete a pod with its own grace period, and record it."""
        log.info("deleting pod %s (its own grace period)", name)
        self.record.act("delete", pod=name)
        self.kube.core.delete_namespaced_pod(name, self.namespace)

    def patch_workload(self, body: dict[str, Any], action: str, **detail: Any) -> None:
        """Patch the target's Deployment or StatefulSet, and record it."""
        self.record.act(action, **detail)
        controller_of(self.kube.apps, self.namespace, self.target).patch(body)

    def scale_workload(self, replicas: int) -> None:
        self.record.act("scale", replicas=replicas)
        controller_of(self.kube.apps, self.namespace, self.target).scale(replicas)

    def wait_serving(
        self,
        want: int,
        exclude: Collection[str],
        timeout: float = 120.0,
        *,
        hint: str | None = None,
    ) -> None:
        """Wait until `want` pods whose UIDs are not in `exclude` serve (replacements are
        Ready). UIDs, not names: a StatefulSet's replacement has its predecessor's name.
        `hint`, when given, ends the timeout's message: what the caller knows about why
        replacements may never come (e.g. a cordoned node)."""
        last: list[str] = []

        def probe() -> list[Any] | None:
            pods = [p for p in self.serving() if p.metadata.uid not in exclude]
            last[:] = [p.metadata.name for p in pods]
            return pods if len(pods) >= want else None

        wait_for(
            probe,
            what=f"{want} ready replacement pods ({self.target.selector})",
            timeout=timeout,
            describe=lambda: f"ready and not terminating: {last or 'none'}",
            hint=hint,
        )

    def wait_rollout(self, timeout: float) -> None:
        """Wait until the target's rollout is complete (kubectl rollout status)."""
        # The half-second poll of old: part of the disruption's timing, which is measured.
        workload_available(self.kube, self.namespace, self.target).wait(timeout, interval=0.5)


class Disruption(ABC):
    """One way of terminating the target's pods under load."""

    kind: ClassVar[str]
    """Its name in scenario ids, results and on the command line."""

    replaces_first: ClassVar[bool] = False
    """Whether a replacement is started before a pod is taken away (a rolling update's
    surge): if not, a single replica leaves nothing serving meanwhile (graceproof.plan)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        DISRUPTIONS.register_class(cls, "kind")

    @abstractmethod
    def run(self, ctx: DisruptionContext) -> None:
        """Terminate pods of `ctx.target`; return once the workload serves again with
        its replacements (the terminating pods may still be finishing)."""

    def nodes_emptied(self, ctx: DisruptionContext) -> tuple[str, ...]:
        """The nodes it will empty, known before it runs: an in-cluster load keeps off
        them. None by default (it terminates pods, not nodes)."""
        return ()

    def parameters(self) -> dict[str, Any]:
        return parameters_of(self)

    def changed(self) -> dict[str, Any]:
        return changed_parameters(self)


# Every disruption by its kind (the CLI's --disruption), filled as they are defined.
DISRUPTIONS: Registry[type[Disruption]] = Registry("disruption", Disruption)
