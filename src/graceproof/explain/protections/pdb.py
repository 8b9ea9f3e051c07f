"""The PodDisruptionBudget: the Eviction API refuses to take too many pods at once."""

from __future__ import annotations

from typing import ClassVar

from graceproof.explain.protections.base import Protection, pod_labels
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved

__all__ = ["DisruptionBudget"]


def _budgets(resolved: Resolved) -> list[Doc]:
    """The PDBs whose selector picks the workload's pods."""
    labels = pod_labels(resolved)
    found = []
    for d in resolved.docs:
        if d.kind != "PodDisruptionBudget":
            continue
        match = ((d.body.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if match and all(labels.get(k) == v for k, v in match.items()):
            found.append(d)
    return found


class DisruptionBudget(Protection):
    name: ClassVar[str] = "pdb"
    title: ClassVar[str] = "PodDisruptionBudget"
    # Only evictions ask it; a plain delete or a rollout goes around it.
    exercised_by: ClassVar[tuple[str, ...]] = ("drain-node", "evict")
    missing: ClassVar[str] = (
        "no PodDisruptionBudget, so a drain may evict every replica on a node at once and "
        "nothing serves until the replacements are ready"
    )

    def present(self, resolved: Resolved) -> bool:
        return bool(_budgets(resolved))

    def weaken(self, resolved: Resolved) -> tuple[list[Doc], str]:
        gone = {d.ref for d in _budgets(resolved)}
        docs = [d for d in resolved.docs if d.ref not in gone]
        return docs, ", ".join(sorted(gone))
