"""Where the load runs: on the host (`OnHost`, the default) or in the cluster
(`InCluster`). A new placement is one `Placement` subclass.

The short import path the README shows (`from graceproof.placement import InCluster`);
the placements live with the rest of the load, in graceproof.load (why: its docstring).
"""

from graceproof.load import (
    NOT_LOAD_PODS,
    OFFICIAL_LOCUST_IMAGE,
    PLACEMENTS,
    InCluster,
    LoadContext,
    LoadRunner,
    OnHost,
    Placement,
    Resources,
)

__all__ = [
    "NOT_LOAD_PODS",
    "OFFICIAL_LOCUST_IMAGE",
    "PLACEMENTS",
    "InCluster",
    "LoadContext",
    "LoadRunner",
    "OnHost",
    "Placement",
    "Resources",
]
