"""Where the load runs: on the host (`OnHost`, the default) or in the cluster
(`InCluster`). A new placement is one `Placement` subclass."""

from graceproof.placement.base import PLACEMENTS, LoadContext, LoadRunner, Placement
from graceproof.placement.cluster import NOT_LOAD_PODS, InCluster, Resources
from graceproof.placement.host import OnHost

__all__ = [
    "NOT_LOAD_PODS",
    "PLACEMENTS",
    "InCluster",
    "LoadContext",
    "LoadRunner",
    "OnHost",
    "Placement",
    "Resources",
]
