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

from graceproof.errors import WorkloadSpecError
from graceproof.model import Expected
from graceproof.parameters import changed_parameters, parameters_of
from graceproof.registry import Registry
from graceproof.waiting import REQUEST_TIMEOUT
from graceproof.workloads.base import DeployContext, Target, Workload

__all__ = ["CONTROLLERS", "IngressController", "ThroughIngress", "controller_named", "ingress_for"]


class IngressController(ABC):
    """A real ingress controller, installed per test namespace."""

    kind: ClassVar[str]
    """Its name in scenario ids and results."""
    ingress_class: ClassVar[str]
    """The `kubernetes.io/ingress.class` it serves: its Ingresses carry it."""
    release_image: ClassVar[str] = ""
    """Its official release image pinned by digest: what a cluster that pulls runs."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._register()

    @classmethod
    def _register(cls) -> None:
        """Put the class into its seam's registry: CONTROLLERS (the CLI's --ingress), by
        `kind`. Gateway API controllers go into GATEWAYS instead (graceproof.ingress.gateway)."""
        CONTROLLERS.register_class(cls, "kind")

    @abstractmethod
    def install(self, ctx: DeployContext) -> int:
        """Deploy the controller in `ctx.namespace`, return once it is Ready, with the
        NodePort on which it takes traffic."""

    def route(self, ctx: DeployContext, target: Target) -> None:
        """Route every path of any host to the target's Service (networking.k8s.io/v1)."""
        port = service_port(ctx, target)
        ctx.kube.apply([ingress_for(target.service, port, self.ingress_class)], ctx.namespace)

    def parameters(self) -> dict[str, Any]:
        return parameters_of(self)


# Every controller class by its `kind` (the CLI's --ingress), filled as they are defined.
CONTROLLERS: Registry[type[IngressController]] = Registry("ingress controller", IngressController)


def controller_named(kind: str, **parameters: Any) -> IngressController:
    """The controller called `kind` (e.g. "traefik"), built with `parameters`."""
    return CONTROLLERS.lookup(kind)(**parameters)


def service_port(ctx: DeployContext, target: Target) -> int:
    """The Service port that leads to the pods' serving port (`target.pod_port`), else
    its only port."""
    svc = ctx.kube.core.read_namespaced_service(
        target.service, ctx.namespace, _request_timeout=REQUEST_TIMEOUT
    )
    ports = svc.spec.ports or []
    for p in ports:
        if target.pod_port is not None and p.target_port in (target.pod_port, str(target.pod_port)):
            return int(p.port)
    if len(ports) == 1:
        return int(ports[0].port)
    raise WorkloadSpecError(
        f"service/{target.service} has {len(ports)} ports and none targets the pods' port "
        f"{target.pod_port}: give the Service one port to the port the load is served on"
    )


def ingress_for(service: str, port: int, ingress_class: str) -> dict[str, Any]:
    """One Ingress of `ingress_class`, for any host: `/` and below to `service:port`.
    The class is the annotation, not spec.ingressClassName: the latter names a
    cluster-wide IngressClass, which a test namespace does not create."""
    backend = {"service": {"name": service, "port": {"number": port}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": service,
            "annotations": {"kubernetes.io/ingress.class": ingress_class},
        },
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

    @property
    def label(self) -> str:
        return f"{self.workload.label}-via-{self.controller.kind}"

    @property
    def expected(self) -> Expected:
        return self.workload.expected

    @property
    def signals(self) -> frozenset[str]:  # type: ignore[override]
        return self.workload.signals

    @property
    def uses_session_image(self) -> bool:  # type: ignore[override]
        return self.workload.uses_session_image

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
        # routes (it answers 404 before). The workload's other NodePorts are dropped: a
        # traffic kind that needs one would bypass the controller, and is refused instead.
        return replace(target, node_port=node_port, node_ports={}, through=self.controller.kind)
