"""The rolling strategy: a Deployment that takes no pod away before its replacement is
available (maxUnavailable 0, explicitly or as 25 % of few replicas rounds down)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from graceproof.explain.protections.base import Protection, spec_of, with_workload
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved

__all__ = ["RollingStrategy", "max_unavailable"]

# Kubernetes' defaults for a Deployment's spec.strategy.rollingUpdate.
DEFAULT_SURGE = "25%"
DEFAULT_UNAVAILABLE = "25%"


def max_unavailable(value: int | str, replicas: int) -> int:
    """The pods a rollout may take away: a percentage rounds down, as Kubernetes does."""
    text = str(value)
    if text.endswith("%"):
        return math.floor(float(text[:-1]) * replicas / 100)
    return int(text)


def _rolling(resolved: Resolved) -> dict[str, Any] | None:
    """The Deployment's rollingUpdate settings (defaults filled in when unset), or None
    when it does not roll (a StatefulSet, a Recreate Deployment)."""
    if resolved.workload.kind != "Deployment":
        return None
    strategy = spec_of(resolved).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling = dict(strategy.get("rollingUpdate") or {})
    rolling.setdefault("maxSurge", DEFAULT_SURGE)
    rolling.setdefault("maxUnavailable", DEFAULT_UNAVAILABLE)
    return rolling


class RollingStrategy(Protection):
    name: ClassVar[str] = "rolling-strategy"
    title: ClassVar[str] = "rolling strategy (maxUnavailable 0)"
    # Not rolling-update: graceproof's rolling update sets maxSurge and maxUnavailable
    # itself (its own parameters), so the workload's values are not what it exercises.
    exercised_by: ClassVar[tuple[str, ...]] = ("rollout-restart",)
    missing: ClassVar[str] = (
        "the rollout may take a pod away before its replacement is available "
        "(maxUnavailable above 0, or a Recreate strategy), so capacity drops during it"
    )

    def present(self, resolved: Resolved) -> bool:
        rolling = _rolling(resolved)
        return rolling is not None and (
            max_unavailable(rolling["maxUnavailable"], resolved.min_replicas()) == 0
        )

    def weaken(self, resolved: Resolved) -> tuple[list[Doc], str]:
        replicas = resolved.min_replicas()
        # The defaults, unless 25 % of these few replicas rounds down to 0 again: then
        # one pod, the least that lets the rollout take one away first.
        raised: int | str = (
            DEFAULT_UNAVAILABLE if max_unavailable(DEFAULT_UNAVAILABLE, replicas) else 1
        )
        # Only maxUnavailable changes: the workload's own maxSurge stays, so the variant
        # differs from the original in exactly this one protection.
        surge = (_rolling(resolved) or {}).get("maxSurge", DEFAULT_SURGE)
        weakened = {"maxSurge": surge, "maxUnavailable": raised}

        def change(body: dict[str, Any]) -> None:
            body.setdefault("spec", {})["strategy"] = {
                "type": "RollingUpdate",
                "rollingUpdate": dict(weakened),
            }

        docs = with_workload(resolved, change)
        return docs, f"to maxUnavailable {raised} (maxSurge {surge} kept)"
