"""Roll the target's pods out again, as `kubectl rollout restart` does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from graceproof.disruptions.base import Disruption, DisruptionContext


@dataclass(frozen=True)
class RolloutRestart(Disruption):
    """Stamp the pod template with a restart time, then wait for the rollout."""

    kind: ClassVar[str] = "rollout-restart"
    # The Deployment controller surges a new pod first (maxSurge rounds up to 1).
    replaces_first: ClassVar[bool] = True
    timeout_s: float = 300.0

    def run(self, ctx: DisruptionContext) -> None:
        stamp = datetime.now(UTC).isoformat()
        annotations = {"kubectl.kubernetes.io/restartedAt": stamp}
        body = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        ctx.patch_workload(body, "restart", restarted_at=stamp)
        ctx.wait_rollout(self.timeout_s)
        ctx.record.act("rollout_complete")
