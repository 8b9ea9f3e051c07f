"""What a proof of a team's workload will do, found from its manifests before anything is
deployed (`graceproof prove --dry-run`, or `plan_of` from a test): the target and its
replicas, the Service and port, each container's preStop hook and readiness probe, the
grace period, PDB, HPA and update strategy, the objects left out, the control derived
(or why none), the disruption and the time it may take; and hints where the shape
decides the outcome before any request is sent.

Static: it reads the manifests only. The live replica count (an HPA may scale the
workload at once) is the proof's to find, and its result records it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graceproof.disruptions import Disruption
from graceproof.sources import Doc
from graceproof.workloads.manifests import Resolved, grace_seconds

__all__ = ["Plan", "hook_seconds", "plan_of"]

# `sleep N` in an exec command (`sleep 5`, `sleep 5s`): its seconds are the group.
SLEEP_IN_COMMAND = re.compile(r"\bsleep\s+(\d+(?:\.\d+)?)s?\b")


@dataclass(frozen=True)
class Plan:
    lines: tuple[str, ...]
    hints: tuple[str, ...]

    def text(self) -> str:
        hints = [f"hint: {h}" for h in self.hints] or ["hints: none"]
        return "\n".join([*self.lines, *hints])


def hook_seconds(pre_stop: dict[str, Any]) -> float | None:
    """How long a preStop hook holds the pod, when its form says (a `sleep` action, or
    an exec command that sleeps); None when it does not (httpGet: the app decides)."""
    if "sleep" in pre_stop:
        return float((pre_stop["sleep"] or {}).get("seconds", 0))
    command = " ".join(str(c) for c in ((pre_stop.get("exec") or {}).get("command") or []))
    found = [float(s) for s in SLEEP_IN_COMMAND.findall(command)]
    return sum(found) if found else None


def _describe_hook(pre_stop: dict[str, Any]) -> str:
    if "sleep" in pre_stop:
        return f"sleep {hook_seconds(pre_stop):g} s"
    if "exec" in pre_stop:
        command = (pre_stop["exec"] or {}).get("command") or []
        return f"exec {' '.join(str(c) for c in command)!r}"
    if "httpGet" in pre_stop:
        get = pre_stop["httpGet"] or {}
        return f"httpGet {get.get('path', '/')} on port {get.get('port')}"
    return "unrecognised action"


def _readiness(container: dict[str, Any]) -> str:
    probe = container.get("readinessProbe")
    if not probe:
        return "no readiness probe"
    period, threshold = probe.get("periodSeconds", 10), probe.get("failureThreshold", 3)
    return f"readiness probe every {period} s, unready after {threshold} failures"


def _selects(doc: Doc, labels: dict[str, str]) -> bool:
    match = ((doc.body.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def _of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.kind == kind]


def plan_of(resolved: Resolved, *, disruption: Disruption, control: bool = True) -> Plan:
    """The plan of a proof of `resolved` under `disruption`."""
    w = resolved.workload
    spec = w.body.get("spec") or {}
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    containers = list(pod_spec.get("containers") or [])
    grace = grace_seconds(pod_spec)
    pdbs = [d for d in _of_kind(resolved.docs, "PodDisruptionBudget") if _selects(d, labels)]
    declared = spec.get("replicas")
    lowest = resolved.min_replicas()

    lines = [f"target: {w.ref} ({w.origin})"]
    replicas = f"replicas: {declared}" if declared is not None else "replicas: not set (1)"
    if (hpa := resolved.hpa) is not None:
        h = hpa.body.get("spec") or {}
        replicas += (
            f"; {hpa.ref} scales it from {h.get('minReplicas', 1)} to {h.get('maxReplicas')}"
            " (the proof disrupts the live count)"
        )
    lines.append(replicas)
    port = resolved.service_port
    lines.append(
        f"service: {resolved.service.ref} port {port.get('name') or port.get('port')} "
        f"-> targetPort {resolved.target_port}"
    )
    holds: list[float] = []
    for c in containers:
        pre_stop = (c.get("lifecycle") or {}).get("preStop")
        hook = _describe_hook(pre_stop) if pre_stop else "no preStop hook"
        if pre_stop and (s := hook_seconds(pre_stop)) is not None:
            holds.append(s)
        lines.append(f"container {c.get('name')}: {hook}; {_readiness(c)}")
    lines.append(f"grace period: {grace} s")
    strategy = spec.get("strategy") or spec.get("updateStrategy") or {}
    if strategy:
        rolling = strategy.get("rollingUpdate") or {}
        knobs = ", ".join(f"{k} {v}" for k, v in sorted(rolling.items()))
        lines.append(
            f"strategy: {strategy.get('type', 'RollingUpdate')}{f' ({knobs})' if knobs else ''}"
        )
    for pdb in pdbs:
        p = pdb.body.get("spec") or {}
        bound = ", ".join(f"{k} {p[k]}" for k in ("minAvailable", "maxUnavailable") if k in p)
        lines.append(f"pdb: {pdb.ref} ({bound})")
    if not pdbs:
        lines.append("pdb: none")
    lines += [f"left out: {line}" for line in resolved.left_out] or ["left out: nothing"]
    if not resolved.hooks:
        lines.append(f"control: none: {w.ref} has no preStop hook, so there is none to remove")
    elif control:
        lines.append(
            f"control: the same objects without their {resolved.hooks} preStop hook(s), "
            "run first in a namespace of its own"
        )
    else:
        lines.append("control: none (--no-control)")
    lines.append(
        f"disruption: {disruption.kind} over {lowest} replica(s); each pod may take up to its "
        f"{grace} s grace period to go, so at most about {lowest * (grace + 10)} s per run"
    )
    surges = disruption.replaces_first and _surges(w)
    return Plan(
        tuple(lines), tuple(_hints(disruption, surges, lowest, grace, holds, resolved.hooks))
    )


def _surges(w: Doc) -> bool:
    """Whether the controller starts a new pod before taking an old one: a Deployment
    rolling with maxSurge above 0 (its default is 25 %, which rounds up to 1); not a
    Recreate Deployment, nor a StatefulSet (one pod at a time, deleted first)."""
    if w.kind != "Deployment":
        return False
    strategy = (w.body.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    return str(surge).rstrip("%") not in ("0", "")


def _hints(
    disruption: Disruption, surges: bool, lowest: int, grace: int, holds: list[float], hooks: int
) -> list[str]:
    hints = []
    if lowest < 2 and not surges:
        hints.append(
            f"one replica under {disruption.kind}: nothing serves while it is replaced, so "
            "requests fail whatever the hook; run 2 replicas or more, or prove a rolling "
            "update with maxSurge 1 (--disruption rolling-update)"
        )
    if holds and max(holds) >= grace:
        hints.append(
            f"the preStop hook holds {max(holds):g} s but the grace period is {grace} s: "
            "the kubelet kills the container before the app gets SIGTERM's time to drain; "
            "raise terminationGracePeriodSeconds above the hook plus the app's drain"
        )
    if not hooks:
        hints.append(
            "no preStop hook: the app itself must keep serving until the endpoint is gone "
            "(its own shutdown delay), or requests fail during the removal lag"
        )
    return hints
