"""Disruptions under load, one class each behind `Disruption`. A new kind is a new
module with one subclass: defining it registers its `kind` in `DISRUPTIONS`, the names
the command line offers (graceproof.registry)."""

from graceproof.disruptions.base import (
    DISRUPTIONS,
    Disruption,
    DisruptionContext,
    serving_pods,
    wait_all_gone,
)
from graceproof.disruptions.delete import DeleteOneByOne
from graceproof.disruptions.drain import DrainNode
from graceproof.disruptions.evict import Evict
from graceproof.disruptions.grace import DeleteWithGrace
from graceproof.disruptions.node_shutdown import NodeShutdown
from graceproof.disruptions.rolling import RollingUpdate
from graceproof.disruptions.rollout import RolloutRestart
from graceproof.disruptions.scale import ScaleDown

__all__ = [
    "DISRUPTIONS",
    "DeleteOneByOne",
    "DeleteWithGrace",
    "Disruption",
    "DisruptionContext",
    "DrainNode",
    "Evict",
    "NodeShutdown",
    "RollingUpdate",
    "RolloutRestart",
    "ScaleDown",
    "disruption_named",
    "serving_pods",
    "wait_all_gone",
]


def disruption_named(kind: str) -> Disruption:
    """The disruption of that kind, with its default parameters."""
    return DISRUPTIONS.lookup(kind)()
