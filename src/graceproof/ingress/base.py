"""The traffic-path seam: an ingress controller between the load and the pods.

Load from the host enters the controller's NodePort on 127.0.0.1; the controller
routes to the pod IPs it reads from the EndpointSlices it watches, with its own lag.
A controller is one small class: `install` deploys it into the test namespace and
returns its NodePort, `route` makes it send a path to a Service. Any workload goes
through one with `ThroughIngress(workload, Traefik())`; the scenario, the timeline
(the workload's own Service) and the analysis do not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from graceproof.model import Expected
from graceproof.waiting import REQUEST_TIMEOUT
from graceproof.workloads.base import (
    DeployContext,
    Target,
    Workload,
    changed_parameters,
    parameters_of,
)

__all__ = ["IngressController", "ThroughIngress", "ingress_for"]


class IngressController(ABC):
    """A real ingress controller, installed per test namespace."""

    kind: ClassVar[str]
    """Its name in scenario ids and results."""

    @abstractmethod
    def install(self, ctx: DeployContext) -> int:
        """Deploy the controller in `ctx.namespace`, return once it is Ready, with the
        NodePort on which it takes traffic."""

    def route(self, ctx: DeployContext, target: Target) -> None:
        """Route every path of any host to the target's Service (networking.k8s.io/v1)."""
        port = service_port(ctx, target.service)
        ctx.kube.apply([ingress_for(target.service, port)], ctx.namespace)

    def parameters(self) -> dict[str, Any]:
        return parameters_of(self)


def service_port(ctx: DeployContext, service: str) -> int:
    svc = ctx.kube.core.read_namespaced_service(
        service, ctx.namespace, _request_timeout=REQUEST_TIMEOUT
    )
    return int(svc.spec.ports[0].port)


def ingress_for(service: str, port: int) -> dict[str, Any]:
    """One Ingress without a class or host: `/` and below to `service:port`."""
    backend = {"service": {"name": service, "port": {"number": port}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": service},
        "spec": {
            "rules": [
                {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
            ]
        },
    }


@dataclass(frozen=True)
class ThroughIngress(Workload):
    """`workload`, loaded through `controller` instead of its own NodePort."""

    workload: Workload
    controller: IngressController

    # The sample image may be the wrapped workload's; loading it when unused is harmless.
    uses_session_image: ClassVar[bool] = True

    @property
    def label(self) -> str:
        return f"{self.workload.label}-via-{self.controller.kind}"

    @property
    def expected(self) -> Expected:
        return self.workload.expected

    @property
    def signals(self) -> frozenset[str]:  # type: ignore[override]
        return self.workload.signals

    def parameters(self) -> dict[str, Any]:
        return {
            "workload": {"type": type(self.workload).__name__, **self.workload.parameters()},
            "controller": {"kind": self.controller.kind, **self.controller.parameters()},
        }

    def changed(self) -> dict[str, Any]:
        parts = {
            "workload": self.workload.changed(),
            "controller": changed_parameters(self.controller),
        }
        return {k: v for k, v in parts.items() if v}

    def deploy(self, ctx: DeployContext) -> Target:
        target = self.workload.deploy(ctx)
        node_port = self.controller.install(ctx)
        self.controller.route(ctx, target)
        # The scenario waits until this port answers: that is, until the controller
        # routes (it answers 404 before).
        return replace(target, node_port=node_port)
