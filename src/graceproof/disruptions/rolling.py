"""A rolling update of the target's Deployment with a chosen strategy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Literal

from graceproof.amounts import check_int_or_percent, percent_of
from graceproof.disruptions.base import Disruption, DisruptionContext
from graceproof.errors import WorkloadSpecError
from graceproof.waiting import REQUEST_TIMEOUT

__all__ = ["ROLLOUT_ENV", "RollingUpdate"]

ROLLOUT_ENV = "GRACEPROOF_ROLLOUT"
_FIELDS = {"max_surge": "maxSurge", "max_unavailable": "maxUnavailable"}


def _amount(name: str, value: int | str) -> int | None:
    """The percentage of an "N%" value, or None for an int; WorkloadSpecError naming the
    field when it is neither, or out of range (Kubernetes' IntOrString rules: maxSurge
    may exceed 100 %, as it adds pods; maxUnavailable cannot take more than all)."""
    where = f"rolling-update: {name} (spec.strategy.rollingUpdate.{_FIELDS[name]})"
    check_int_or_percent(where, value, over_100=name == "max_surge")
    return percent_of(value)


def _zero(value: int | str, percent: int | None) -> bool:
    return value == 0 if percent is None else percent == 0


@dataclass(frozen=True)
class RollingUpdate(Disruption):
    """Change the pod template for real (env GRACEPROOF_ROLLOUT=<now> on the first
    container, a strategic merge patch) and set spec.strategy.rollingUpdate to
    `max_surge` / `max_unavailable`, then wait for the rollout. Deployments only.

    `max_unavailable=1` with one replica is allowed: it is the known outage (the only
    pod terminates before its replacement is Ready)."""

    kind: ClassVar[str] = "rolling-update"
    # The Deployment controller surges a new pod first (maxSurge rounds up to 1).
    replaces_first: ClassVar[bool] = True
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    change: Literal["env"] = "env"
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        surge = _amount("max_surge", self.max_surge)
        unavailable = _amount("max_unavailable", self.max_unavailable)
        if _zero(self.max_surge, surge) and _zero(self.max_unavailable, unavailable):
            raise WorkloadSpecError(
                "rolling-update: max_surge and max_unavailable (spec.strategy.rollingUpdate."
                "maxSurge, maxUnavailable) are both 0, which Kubernetes refuses (the rollout "
                "could never start); set one of them above 0, e.g. max_surge=1"
            )
        if self.change != "env":
            raise WorkloadSpecError(
                f"rolling-update: change must be 'env' (the only template change), "
                f"not {self.change!r}"
            )
        if not self.timeout_s > 0:
            raise WorkloadSpecError(f"rolling-update: timeout_s must be > 0, not {self.timeout_s}")

    def run(self, ctx: DisruptionContext) -> None:
        if ctx.target.kind != "Deployment":
            raise WorkloadSpecError(
                f"rolling-update: {ctx.target.ref} is a {ctx.target.kind}; maxSurge and "
                "maxUnavailable are fields of a Deployment (spec.strategy.rollingUpdate). "
                "Use rollout-restart or delete-one-by-one for it"
            )
        deployment = ctx.kube.apps.read_namespaced_deployment(
            ctx.target.name, ctx.namespace, _request_timeout=REQUEST_TIMEOUT
        )
        # The strategic merge key of containers is the name: the patch must carry it.
        container = deployment.spec.template.spec.containers[0].name
        stamp = datetime.now(UTC).isoformat()
        strategy = {"maxSurge": self.max_surge, "maxUnavailable": self.max_unavailable}
        env = [{"name": ROLLOUT_ENV, "value": stamp}]
        body = {
            "spec": {
                "strategy": {"type": "RollingUpdate", "rollingUpdate": strategy},
                "template": {"spec": {"containers": [{"name": container, "env": env}]}},
            }
        }
        ctx.patch_workload(
            body,
            "rolling_update",
            max_surge=self.max_surge,
            max_unavailable=self.max_unavailable,
            container=container,
            env=f"{ROLLOUT_ENV}={stamp}",
        )
        ctx.wait_rollout(self.timeout_s)
        ctx.record.act("rollout_complete")
