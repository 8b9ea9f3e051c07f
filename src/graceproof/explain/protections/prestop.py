"""The preStop hook: keeps the pod serving while the proxies drop its endpoint."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from graceproof.explain.protections.base import Protection, containers_of, with_workload
from graceproof.plan import SLEEP_IN_COMMAND, hook_seconds
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved

__all__ = ["PreStopHook", "own_sleep", "with_sleep"]


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


def own_sleep(resolved: Resolved) -> float | None:
    """How long the workload's preStop hook sleeps, when one container has a hook whose
    form says it (a sleep action, or an exec command with exactly one `sleep N`)."""
    hooks = [
        c["lifecycle"]["preStop"]
        for c in containers_of(resolved.workload.body)
        if isinstance(c.get("lifecycle"), dict) and c["lifecycle"].get("preStop")
    ]
    if len(hooks) != 1:
        return None
    pre_stop = hooks[0]
    if "sleep" in pre_stop:
        return hook_seconds(pre_stop)
    command = " ".join(str(c) for c in ((pre_stop.get("exec") or {}).get("command") or []))
    found = SLEEP_IN_COMMAND.findall(command)
    return float(found[0]) if len(found) == 1 else None


def with_sleep(resolved: Resolved, seconds: int) -> tuple[list[Doc], str]:
    """The manifests with the hook's sleep set to `seconds`, and the change in words.
    Everything else the hook does (an exec command's other steps) stays."""
    said: list[str] = []

    def change(body: dict[str, Any]) -> None:
        for c in containers_of(body):
            pre_stop = (c.get("lifecycle") or {}).get("preStop")
            if not pre_stop:
                continue
            said.append(f"{c.get('name')}: sleep {hook_seconds(pre_stop):g} s -> {seconds} s")
            if "sleep" in pre_stop:
                pre_stop["sleep"] = {**(pre_stop["sleep"] or {}), "seconds": seconds}
                continue
            pre_stop["exec"]["command"] = _slept(pre_stop["exec"]["command"], seconds)

    docs = with_workload(resolved, change)
    return docs, "; ".join(said)


def _slept(command: list[Any], seconds: int) -> list[str]:
    """An exec command with its `sleep N` set to `seconds`, in either form: within one
    part (`sh -c "... && sleep 10"`), or split (`["sleep", "5"]`, `["/bin/sleep", "5"]`)."""
    parts = [str(p) for p in command]
    for i, part in enumerate(parts[:-1]):
        if _SLEEP_PROGRAM.fullmatch(part) and _SECONDS.fullmatch(parts[i + 1]):
            return [*parts[: i + 1], str(seconds), *parts[i + 2 :]]
    return [SLEEP_IN_COMMAND.sub(f"sleep {seconds}", part) for part in parts]


# A command's part that is the sleep program, and one that is its argument.
_SLEEP_PROGRAM = re.compile(r"(?:.*/)?sleep")
_SECONDS = re.compile(r"\d+(?:\.\d+)?s?")
