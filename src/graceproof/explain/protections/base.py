"""The protection seam: one setting of a team's workload that may keep requests
while its pods go, and how to take it away.

A protection is one small class, registered by name in `PROTECTIONS`
(graceproof.explain.protections). It says whether the workload carries it
(`present`), which disruptions exercise it (`applies`, `exercised_by`), what a
workload without it risks (`missing`), and how to derive the workload with exactly
that one thing removed or weakened (`weaken`): a pure function of the rendered
manifests, so unit tests check each derivation without a cluster.

    class MinReadySeconds(Protection):
        name = "min-ready-seconds"
        title = "minReadySeconds"
        exercised_by = ("rollout-restart",)
        missing = "a new pod counts as available at its first ready probe"

        def present(self, resolved): return bool(spec(resolved).get("minReadySeconds"))
        def weaken(self, resolved):
            docs = with_workload(resolved, lambda body: body["spec"].pop("minReadySeconds"))
            return docs, f"{spec(resolved)['minReadySeconds']} s"
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from graceproof.disruptions import Disruption
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved

__all__ = ["Protection", "containers_of", "pod_labels", "spec_of", "with_workload"]


class Protection(ABC):
    """One protection of a workload (preStop hook, readiness probe, PDB, ...)."""

    name: ClassVar[str]
    """Its name on the command line (--protection), in variant labels and in JSON."""

    title: ClassVar[str]
    """How the table names it."""

    exercised_by: ClassVar[tuple[str, ...]]
    """The disruption kinds under which it can make a difference."""

    missing: ClassVar[str]
    """What a workload without it risks, said when it is missing."""

    @abstractmethod
    def present(self, resolved: Resolved) -> bool:
        """Whether the workload carries it, so that removing it changes the manifests."""

    @abstractmethod
    def weaken(self, resolved: Resolved) -> tuple[list[Doc], str]:
        """The manifests with exactly this protection removed or weakened, and what was
        removed, in a few words ("nginx: sleep 5 s", "30 s cut to 5 s"). Called only
        when present."""

    def absent(self, resolved: Resolved) -> str:
        """Why it is not there, for the table (default: it is missing, and what that risks)."""
        return f"missing: {self.missing}"

    def applies(self, disruption: Disruption) -> bool:
        """Whether `disruption` exercises it (its kind is one of `exercised_by`)."""
        return disruption.kind in self.exercised_by

    def exercised(self) -> str:
        """`drain-node or evict`: the disruptions to choose to see its effect."""
        kinds = list(self.exercised_by)
        return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"


def spec_of(resolved: Resolved) -> dict[str, Any]:
    """The workload's spec (a Deployment's or StatefulSet's)."""
    spec: dict[str, Any] = resolved.workload.body.get("spec") or {}
    return spec


def _pod_spec(body: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    return pod


def containers_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod template's containers (not its init containers) of a workload's body."""
    return list(_pod_spec(body).get("containers") or [])


def pod_labels(resolved: Resolved) -> dict[str, str]:
    template = spec_of(resolved).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def with_workload(resolved: Resolved, change: Callable[[dict[str, Any]], None]) -> list[Doc]:
    """Every doc, the workload's body copied and passed to `change` (which edits it in
    place); the others as they are (their bodies are copied again when applied)."""
    docs = []
    for d in resolved.docs:
        if d.ref == resolved.workload.ref:
            body = copy.deepcopy(d.body)
            change(body)
            d = Doc(body=body, origin=d.origin)
        docs.append(d)
    return docs
