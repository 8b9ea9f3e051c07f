"""Disruptions under load, one class each behind `Disruption`. A new kind is a new
module with one subclass, plus one line in `DISRUPTIONS` to give it a name on the
command line; scenarios take any `Disruption` instance without it."""

from graceproof.disruptions.base import (
    Disruption,
    DisruptionContext,
    serving_pods,
    wait_all_gone,
)
from graceproof.disruptions.delete import DeleteOneByOne
from graceproof.disruptions.drain import DrainNode
from graceproof.disruptions.evict import Evict
from graceproof.disruptions.grace import DeleteWithGrace
from graceproof.disruptions.rolling import RollingUpdate
from graceproof.disruptions.rollout import RolloutRestart
from graceproof.disruptions.scale import ScaleDown
from graceproof.errors import WorkloadSpecError

__all__ = [
    "DISRUPTIONS",
    "DeleteOneByOne",
    "DeleteWithGrace",
    "Disruption",
    "DisruptionContext",
    "DrainNode",
    "Evict",
    "RollingUpdate",
    "RolloutRestart",
    "ScaleDown",
    "disruption_named",
    "serving_pods",
    "wait_all_gone",
]

DISRUPTIONS: dict[str, type[Disruption]] = {
    cls.kind: cls
    for cls in (
        DeleteOneByOne,
        RolloutRestart,
        ScaleDown,
        DrainNode,
        Evict,
        RollingUpdate,
        DeleteWithGrace,
    )
}


def disruption_named(kind: str) -> Disruption:
    """The shipped disruption of that kind, with its default parameters."""
    cls = DISRUPTIONS.get(kind)
    if cls is None:
        raise WorkloadSpecError(f"unknown disruption {kind!r}; choose one of {tuple(DISRUPTIONS)}")
    return cls()
