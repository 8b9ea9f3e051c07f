"""The preStop hook: keeps the pod serving while the proxies drop its endpoint."""

from __future__ import annotations

from typing import Any, ClassVar

from graceproof.explain.protections.base import Protection, containers_of, with_workload
from graceproof.plan import hook_seconds
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved

__all__ = ["PreStopHook"]


def _describe(pre_stop: dict[str, Any]) -> str:
    seconds = hook_seconds(pre_stop)
    return f"sleep {seconds:g} s" if seconds is not None else next(iter(pre_stop), "hook")


class PreStopHook(Protection):
    name: ClassVar[str] = "prestop-hook"
    title: ClassVar[str] = "preStop hook"
    # Not delete-grace: its explicit grace period (0 by default) cuts the hook itself.
    exercised_by: ClassVar[tuple[str, ...]] = (
        "delete-one-by-one",
        "rollout-restart",
        "scale-down",
        "drain-node",
        "evict",
        "rolling-update",
    )
    missing: ClassVar[str] = (
        "no preStop hook, so the app gets SIGTERM while the proxies still send it requests; "
        "unless it keeps serving on its own, those fail during the removal lag"
    )

    def present(self, resolved: Resolved) -> bool:
        return resolved.hooks > 0

    def weaken(self, resolved: Resolved) -> tuple[list[Doc], str]:
        removed: list[str] = []

        def strip(body: dict[str, Any]) -> None:
            for c in containers_of(body):
                lifecycle = c.get("lifecycle")
                if isinstance(lifecycle, dict) and lifecycle.get("preStop"):
                    removed.append(f"{c.get('name')}: {_describe(lifecycle.pop('preStop'))}")
                    if not lifecycle:
                        del c["lifecycle"]

        docs = with_workload(resolved, strip)
        return docs, "; ".join(removed)
