"""Delete every pod of the target, one at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from graceproof.disruptions.base import Disruption, DisruptionContext


@dataclass(frozen=True)
class DeleteOneByOne(Disruption):
    """Delete each pod; the next one only after its replacement is Ready (so capacity
    never drops by more than one pod)."""

    kind: ClassVar[str] = "delete-one-by-one"
    timeout_per_pod_s: float = 120.0

    def run(self, ctx: DisruptionContext) -> None:
        original = ctx.serving()
        deleted: set[str] = set()
        for pod in original:
            name = pod.metadata.name
            ctx.delete_pod(name)
            deleted.add(pod.metadata.uid)
            ctx.wait_serving(len(original), deleted, self.timeout_per_pod_s)
            ctx.record.act("replacement_ready", after=name)
