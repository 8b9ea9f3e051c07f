"""Evict some of the target's pods through the Eviction API, one at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from graceproof.disruptions.base import Disruption, DisruptionContext
from graceproof.disruptions.eviction import check_retry, evict_pod
from graceproof.errors import WorkloadSpecError

__all__ = ["Evict"]


@dataclass(frozen=True)
class Evict(Disruption):
    """Evict `pods` serving pods of the target (in the API's order, by name), one at
    a time: the next only once the replacement of the last is Ready. Each eviction is
    retried every `retry_interval_s` while a PodDisruptionBudget refuses it (429), for
    at most `timeout_s`; each pod keeps its own grace period."""

    kind: ClassVar[str] = "evict"
    pods: int = 1
    timeout_s: float = 120.0
    retry_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.pods, bool) or not isinstance(self.pods, int) or self.pods < 1:
            raise WorkloadSpecError(f"evict: pods must be an int >= 1, not {self.pods!r}")
        check_retry(self.kind, self.timeout_s, self.retry_interval_s)

    def run(self, ctx: DisruptionContext) -> None:
        serving = ctx.serving()
        if self.pods > len(serving):
            raise WorkloadSpecError(
                f"evict: pods={self.pods}, but {ctx.target.ref} has {len(serving)} serving "
                f"pods; choose pods <= {len(serving)}"
            )
        evicted: set[str] = set()
        for pod in serving[: self.pods]:
            evict_pod(ctx, pod, timeout=self.timeout_s, interval=self.retry_interval_s)
            evicted.add(pod.metadata.uid)
            ctx.wait_serving(len(serving), evicted, self.timeout_s)
            ctx.record.act("replacement_ready", after=pod.metadata.name)
