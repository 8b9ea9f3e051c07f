"""Delete every pod of the target with an explicit grace period (0: a force delete)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from kubernetes.client import V1DeleteOptions

from graceproof.disruptions.base import Disruption, DisruptionContext
from graceproof.errors import WorkloadSpecError
from graceproof.waiting import REQUEST_TIMEOUT

__all__ = ["DeleteWithGrace"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeleteWithGrace(Disruption):
    """Delete each pod one by one with `grace_seconds` as its grace period (0: force,
    `kubectl delete --grace-period=0 --force`), the next once the replacement is Ready.

    Unlike every other disruption, this one deliberately overrides the behaviour under
    test: the pod's terminationGracePeriodSeconds, and with it the time its preStop hook
    may take. With 0 the pod object and its endpoint go at once, yet the kubelet still
    runs the hook for its minimum grace before SIGTERM: about 1 s measured on the local
    cluster (tests/e2e/test_nodes.py), which covered kube-proxy's lag there. So the
    expectation stays the workload's, as for any disruption; a scenario that wants a
    negative control says `expected="errors"`.
    """

    kind: ClassVar[str] = "delete-grace"
    grace_seconds: int = 0
    timeout_per_pod_s: float = 120.0

    def __post_init__(self) -> None:
        g = self.grace_seconds
        if isinstance(g, bool) or not isinstance(g, int) or g < 0:
            raise WorkloadSpecError(
                f"delete-grace: grace_seconds must be an int >= 0 (0 forces), not {g!r}"
            )

    def run(self, ctx: DisruptionContext) -> None:
        original = ctx.serving()
        deleted: set[str] = set()
        for pod in original:
            name = pod.metadata.name
            log.info("deleting pod %s with grace period %d s (override)", name, self.grace_seconds)
            ctx.record.act("delete", pod=name, grace_seconds=self.grace_seconds)
            ctx.kube.core.delete_namespaced_pod(
                name,
                ctx.namespace,
                body=V1DeleteOptions(grace_period_seconds=self.grace_seconds),
                _request_timeout=REQUEST_TIMEOUT,
            )
            deleted.add(pod.metadata.uid)
            ctx.wait_serving(len(original), deleted, self.timeout_per_pod_s)
            ctx.record.act("replacement_ready", after=name)
