"""A team's own workload: their manifests, kustomization or chart, as a `Workload`.

Everything is rendered and checked before anything touches the cluster (`resolve`,
graceproof.workloads.manifests_check).

graceproof leaves the team's Service as it is and adds its own NodePort Service with
the same selector and targetPort, so load from 127.0.0.1 goes through the cluster's
own proxy path. `without_hooks()` derives the negative control: the same manifests
with every preStop hook removed.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from graceproof.errors import ManifestRejectedError, WorkloadSpecError
from graceproof.model import Expected
from graceproof.sources import ManifestSource
from graceproof.waiting import controller_scaled, workload_available
from graceproof.workloads.base import NODE_PORTS, NOT_IN_ID, DeployContext, Target, Workload
from graceproof.workloads.manifests_check import (
    CLUSTER_SCOPED,
    Resolved,
    container_ports,
    grace_seconds,
    hpa_bounds,
    pod_template,
    resolve,
)

__all__ = ["CLUSTER_SCOPED", "ManifestWorkload", "Resolved", "grace_seconds", "resolve"]

log = logging.getLogger(__name__)

DEFAULT_NODE_PORT = 30080
LOAD_SERVICE_PREFIX = "graceproof-load-"


def _free_node_ports(service: dict[str, Any]) -> None:
    """Drop the fixed nodePorts of a team's Service: a node port is the cluster's, one
    Service at a time, so two proofs of the same manifests (two CI jobs on one cluster)
    would refuse each other. The load goes through graceproof's own Service, so the
    number changes nothing the proof measures; the API server picks a free one."""
    for port in (service.get("spec") or {}).get("ports") or []:
        if isinstance(port, dict) and port.pop("nodePort", None) is not None:
            log.debug("%s: nodePort left to the API server", service["metadata"].get("name"))


def _strip_hooks(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    pod_spec = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in pod_spec.get("containers") or []:
        lifecycle = c.get("lifecycle")
        if isinstance(lifecycle, dict):
            lifecycle.pop("preStop", None)
            if not lifecycle:
                del c["lifecycle"]
    return body


@dataclass(frozen=True)
class ManifestWorkload(Workload):
    """A team's manifests (any `ManifestSource`), checked when made: use `load`."""

    source: ManifestSource = field(metadata=NOT_IN_ID)
    resolved: Resolved = field(repr=False, compare=False, metadata=NOT_IN_ID)
    control: bool = False  # the derived negative control: every preStop hook removed
    node_port: int = field(default=DEFAULT_NODE_PORT, metadata=NOT_IN_ID)
    # False: node_port is only the first choice; when another Service of the cluster
    # holds it (a concurrent proof, another CI job), the load takes the next free one
    # of NODE_PORTS (the Target says which).
    node_port_given: bool = field(default=True, metadata=NOT_IN_ID)
    ready_timeout_s: float = field(default=180.0, metadata=NOT_IN_ID)

    @classmethod
    def load(
        cls,
        source: ManifestSource,
        *,
        target: str | None = None,
        service: str | None = None,
        node_port: int | None = DEFAULT_NODE_PORT,
    ) -> ManifestWorkload:
        """Render `source` and check it; WorkloadSpecError before any cluster call.
        `node_port` None: the first free one of NODE_PORTS, chosen at deploy time."""
        resolved = resolve(source.render(), target, service)
        if node_port is None:
            return cls(source, resolved, node_port=DEFAULT_NODE_PORT, node_port_given=False)
        return cls(source, resolved, node_port=node_port)

    def without_hooks(self, node_port: int | None = None) -> ManifestWorkload:
        """The negative control: the same workload with every preStop hook removed
        (on another node port when both run at once, e.g. in one pytest test).
        WorkloadSpecError when there is no hook: the "control" would be the workload
        itself, and its result would credit a hook that does not exist."""
        if not self.resolved.hooks:
            raise WorkloadSpecError(
                f"{self.resolved.workload.ref} has no preStop hook in any container "
                "(spec.template.spec.containers[].lifecycle.preStop): there is nothing to "
                "remove, so no negative control can be derived; prove the workload alone"
            )
        return replace(self, control=True, node_port=node_port or self.node_port)

    @property
    def label(self) -> str:
        # The form (files, kustomize, helm) and the target: the same workload given
        # as a chart and as plain files are two scenarios.
        w = self.resolved.workload
        base = f"{self.source.kind}-{w.kind.lower()}-{w.name}"
        return f"{base}-no-hook" if self.control else base

    @property
    def expected(self) -> Expected:
        return "errors" if self.control else "no-errors"

    def changed(self) -> dict[str, Any]:
        """The input names the scenario: two charts with a `deployment/web`, or one chart
        with other --set values, are different scenarios (the rendered content is not
        hashed: a change to the manifests is what `compare` is for)."""
        return {"source": self.source.describe(), **super().changed()}

    def parameters(self) -> dict[str, Any]:
        r = self.resolved
        return {
            "source": self.source.describe(),
            "workload": r.workload.ref,
            "service": f"{r.service.ref}:{r.service_port.get('name') or r.service_port['port']}",
            "target_port": r.target_port,
            "prestop_hooks": r.hooks,
            "hpa": None if r.hpa is None else hpa_bounds(r.hpa),
            "pdb": [d.ref for d in r.docs if d.kind == "PodDisruptionBudget"],
            "control": self.control,
            "node_port": self.node_port,
        }

    def manifests(self) -> list[dict[str, Any]]:
        """What is applied: the team's objects (hooks removed for the control, own
        namespace dropped, a Service's fixed nodePorts left to the API server) and
        graceproof's NodePort Service for the load."""
        bodies = []
        for doc in self.resolved.docs:
            body = _strip_hooks(doc.body) if self.control else copy.deepcopy(doc.body)
            body.setdefault("metadata", {}).pop("namespace", None)
            if doc.kind == "Service":
                _free_node_ports(body)
            bodies.append(body)
        return [*bodies, self.load_service()]

    def load_service(self, node_port: int | None = None) -> dict[str, Any]:
        """graceproof's NodePort Service for the load (on `node_port`, default its own)."""
        svc = self.resolved.service
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": (LOAD_SERVICE_PREFIX + svc.name)[:63].rstrip("-"),
                "labels": {"app.kubernetes.io/managed-by": "graceproof"},
            },
            "spec": {
                "type": "NodePort",
                "selector": dict((svc.body.get("spec") or {}).get("selector") or {}),
                "ports": [
                    {
                        "name": "load",
                        "port": int(self.resolved.service_port["port"]),
                        "targetPort": self.resolved.target_port,
                        "nodePort": node_port or self.node_port,
                        "protocol": "TCP",
                    }
                ],
            },
        }

    def _apply_load_service(self, ctx: DeployContext) -> int:
        """Create the load Service; return its node port. On node_port, else (when none
        was given and another Service of the cluster holds it) on the next free one."""
        others = [p for p in NODE_PORTS if p != self.node_port]
        candidates = [self.node_port, *([] if self.node_port_given else others)]
        for port in candidates:
            try:
                ctx.kube.apply([self.load_service(port)], ctx.namespace)
                return port
            except ManifestRejectedError as exc:
                taken = exc.status == 422 and "already allocated" in exc.message
                if not taken or port == candidates[-1]:
                    raise
                log.info("node port %d is taken (another proof?); trying the next", port)
        raise AssertionError("unreachable: the last candidate returns or raises")

    def pod_port(self) -> int | None:
        """The container port number behind the Service's targetPort."""
        target = self.resolved.target_port
        if isinstance(target, int):
            return target
        for _, name, number in container_ports(self.resolved.workload):
            if name == target:
                return number
        return None

    def deploy(self, ctx: DeployContext) -> Target:
        *team, _ = self.manifests()
        ctx.kube.apply(team, ctx.namespace)
        node_port = self._apply_load_service(ctx)
        w = self.resolved.workload
        template_spec = pod_template(w).get("spec") or {}
        selector = (w.body.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
        target = Target(
            kind=w.kind,
            name=w.name,
            selector=",".join(f"{k}={v}" for k, v in sorted(selector.items())),
            service=self.resolved.service.name,
            node_port=node_port,
            replicas=self.resolved.min_replicas(),
            grace_seconds=grace_seconds(template_spec),
            pod_port=self.pod_port(),
        )
        if self.resolved.hpa is not None:
            # The Deployment was applied with its own count (1 when unset); the HPA
            # brings it into its bounds at its next sync (15 s by default). Proving
            # before that would disrupt a shape that is about to change; the live
            # count is what the proof disrupts and the result records.
            scaled = controller_scaled(ctx.kube, ctx.namespace, target).wait(self.ready_timeout_s)
            target = replace(target, replicas=int(scaled.spec.replicas))
        workload_available(ctx.kube, ctx.namespace, target).wait(self.ready_timeout_s)
        return target
