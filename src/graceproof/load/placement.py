"""The load placement seam: where the Locust that drives a scenario runs.

`OnHost` (the default) runs it on the machine that runs graceproof, against a NodePort
on 127.0.0.1. `InCluster` runs a Locust master and workers as pods in the test
namespace, against the Service's ClusterIP: the way to prove a remote cluster, where no
NodePort is on 127.0.0.1. A new placement is one small class: `check_reachable` says
whether its load can reach a deployed target, and `runner` returns a
graceproof.load.runner.LoadRunner subclass that implements what differs where it runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from graceproof.kube import Kube
from graceproof.load.runner import LoadRunner
from graceproof.load.settings import LoadSettings
from graceproof.parameters import changed_parameters, parameters_of
from graceproof.registry import Registry
from graceproof.workloads.base import Target

__all__ = ["PLACEMENTS", "LoadContext", "LoadRunner", "Placement"]


@dataclass(frozen=True)
class LoadContext:
    """What a placement needs to start the load of one scenario."""

    kube: Kube
    namespace: str
    target: Target
    settings: LoadSettings
    duration_s: float  # an upper bound: the load stops by itself after it
    records_path: Path
    # Nodes the load must keep off (the node a drain will empty).
    avoid_nodes: tuple[str, ...] = ()


class Placement(ABC):
    """Where the load runs."""

    kind: ClassVar[str]
    """Its name in results and scenario ids."""

    @abstractmethod
    def check_reachable(
        self, kube: Kube, namespace: str, target: Target, load: LoadSettings
    ) -> None:
        """Once `target` is deployed, before any load: return when the load can reach
        it from where it runs; raise, saying what is missing, when it cannot."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        PLACEMENTS.register_class(cls, "kind")

    @abstractmethod
    def runner(self, ctx: LoadContext) -> LoadRunner:
        """The load of one scenario, not yet started."""

    def parameters(self) -> dict[str, Any]:
        return {"kind": self.kind, **parameters_of(self)}

    def changed(self) -> dict[str, Any]:
        """What distinguishes it in scenario ids: nothing for the default (on the host)."""
        return {"kind": self.kind, **changed_parameters(self)}


# Every placement by its kind (the CLI's --load-from), filled as they are defined.
PLACEMENTS: Registry[type[Placement]] = Registry("load placement", Placement)
