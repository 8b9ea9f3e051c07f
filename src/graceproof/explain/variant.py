"""A team's workload with protections taken away: what each run of `explain` deploys.

`Ablated` is the team's `ManifestWorkload` whose rendered manifests were changed by
protections (graceproof.explain.protections), named by what was removed, so every
variant has a label, a scenario id and result files of its own. Every run of an
explanation is informative (judged by the explanation's table, not by a verdict of
its own): a variant expected to lose requests is no failure of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from graceproof.explain.protections import Protection
from graceproof.ingress import ThroughIngress
from graceproof.model import Expected
from graceproof.sources import Doc
from graceproof.workloads.base import NOT_IN_ID, Workload
from graceproof.workloads.manifests import ManifestWorkload, Resolved, resolve

__all__ = ["Ablated", "ablated", "manifests_of", "resolved_again", "rewrapped", "without"]


@dataclass(frozen=True)
class Ablated(ManifestWorkload):
    """`removed`: the names of the protections taken away (none: the workload as written)."""

    removed: tuple[str, ...] = ()
    # What each removal changed, in a few words, for the table and the result; not in
    # the scenario id (`removed` names the variant; rewording must not rename it).
    changes: tuple[str, ...] = field(default=(), metadata=NOT_IN_ID)

    @property
    def label(self) -> str:
        base = super().label
        return f"{base}-without-{'-and-'.join(self.removed)}" if self.removed else base

    @property
    def expected(self) -> Expected:
        return "informative"

    def parameters(self) -> dict[str, Any]:
        removed = {"removed": list(self.removed), "changes": list(self.changes)}
        return {**super().parameters(), **removed}


def ablated(workload: ManifestWorkload) -> Ablated:
    """The workload as written, as an `Ablated` with nothing removed."""
    if isinstance(workload, Ablated):
        return workload
    return Ablated(**{f.name: getattr(workload, f.name) for f in fields(ManifestWorkload)})


def without(workload: ManifestWorkload, protection: Protection) -> Ablated:
    """`workload` with `protection` removed: its manifests changed and checked again
    (the same target, Service and port)."""
    base = ablated(workload)
    r = base.resolved
    docs, change = protection.weaken(r)
    return replace(
        base,
        resolved=resolved_again(r, docs),
        removed=(*base.removed, protection.name),
        changes=(*base.changes, change),
    )


def resolved_again(r: Resolved, docs: list[Doc]) -> Resolved:
    """`docs`, changed from `r`'s, resolved and checked again for the same target,
    Service and port."""
    port = r.service_port.get("name") or r.service_port["port"]
    return resolve(docs, target=r.workload.ref, service=f"{r.service.name}:{port}")


def manifests_of(workload: Workload) -> ManifestWorkload:
    """The team's manifests a scenario proves (also through an ingress controller);
    TypeError for another kind of workload, whose protections explain cannot read."""
    inner = workload.workload if isinstance(workload, ThroughIngress) else workload
    if not isinstance(inner, ManifestWorkload):
        raise TypeError(
            f"explain takes a team's manifests (ManifestWorkload.load), not a "
            f"{type(inner).__name__}: it reads and removes protections in rendered manifests"
        )
    return inner


def rewrapped(original: Workload, variant: ManifestWorkload) -> Workload:
    """`variant` in the place of the manifests in `original` (inside ThroughIngress)."""
    if isinstance(original, ThroughIngress):
        return replace(original, workload=variant)
    return variant
