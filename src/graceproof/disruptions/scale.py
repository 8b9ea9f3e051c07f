"""Scale the target's Deployment down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from graceproof.disruptions.base import Disruption, DisruptionContext
from graceproof.errors import WorkloadSpecError


@dataclass(frozen=True)
class ScaleDown(Disruption):
    """Set the target's replicas to `to`; its controller picks the pods to end."""

    kind: ClassVar[str] = "scale-down"
    to: int = 1
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.to < 0:
            raise WorkloadSpecError(f"scale-down: to must be >= 0, not {self.to}")

    def run(self, ctx: DisruptionContext) -> None:
        if self.to >= ctx.target.replicas:
            raise WorkloadSpecError(
                f"scale-down to {self.to} terminates nothing: {ctx.target.ref} has "
                f"{ctx.target.replicas} replicas; choose to < {ctx.target.replicas}"
            )
        ctx.scale_workload(self.to)
        ctx.wait_rollout(self.timeout_s)
        ctx.record.act("scaled", replicas=self.to)
