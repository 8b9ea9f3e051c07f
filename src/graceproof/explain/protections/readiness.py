"""The readiness probe: a new pod gets traffic only once it answers, not once it runs."""

from __future__ import annotations

from typing import Any, ClassVar

from graceproof.explain.protections.base import Protection, containers_of, with_workload
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved

__all__ = ["ReadinessProbe"]


class ReadinessProbe(Protection):
    name: ClassVar[str] = "readiness-probe"
    title: ClassVar[str] = "readiness probe"
    # Every disruption that starts replacement pods; scale-down starts none.
    exercised_by: ClassVar[tuple[str, ...]] = (
        "delete-one-by-one",
        "rollout-restart",
        "drain-node",
        "evict",
        "rolling-update",
        "delete-grace",
    )
    missing: ClassVar[str] = (
        "no readiness probe, so a replacement pod joins the endpoints as soon as its "
        "container starts, before the app listens; requests sent to it then fail"
    )

    def present(self, resolved: Resolved) -> bool:
        return any(c.get("readinessProbe") for c in containers_of(resolved.workload.body))

    def weaken(self, resolved: Resolved) -> tuple[list[Doc], str]:
        names: list[str] = []

        def strip(body: dict[str, Any]) -> None:
            for c in containers_of(body):
                if c.pop("readinessProbe", None):
                    names.append(str(c.get("name")))

        docs = with_workload(resolved, strip)
        return docs, ", ".join(names)
