"""The workload seam: what a scenario needs from whatever it proves.

A workload has three jobs: deploy itself into a namespace (returning when it serves),
name what to disrupt and load (`Target`), and say which timeline signals it can give.
The sample app is one implementation (`graceproof.workloads.sample.SampleApp`); a
user's own manifests are another. A new kind of workload is one subclass:

    @dataclass(frozen=True)
    class MyManifests(Workload):          # label: "my-manifests"
        def deploy(self, ctx: DeployContext) -> Target:
            ctx.kube.apply(my_docs, ctx.namespace)
            deployment_available(ctx.kube.apps, ctx.namespace, "web").wait(180)
            return Target(kind="Deployment", name="web", selector="app=web", service="web",
                          node_port=30085, replicas=3, grace_seconds=30)
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graceproof.errors import WorkloadSpecError
from graceproof.kube import Kube
from graceproof.model import Expected
from graceproof.parameters import NOT_IN_ID, changed_parameters, parameters_of

__all__ = [
    "NODE_PORTS",
    "NOT_IN_ID",
    "UNIVERSAL_SIGNALS",
    "DeployContext",
    "Target",
    "Workload",
    "changed_parameters",
    "parameters_of",
]

# kind maps these node ports to 127.0.0.1 (extraPortMappings); load only goes to loopback.
NODE_PORTS = range(30080, 30090)

# Timeline kinds every workload gives, from the API alone (graceproof.timeline).
UNIVERSAL_SIGNALS = frozenset(
    {
        "pod_created",
        "pod_scheduled",
        "pod_ready",
        "pod_deleted",
        "pod_gone",
        "pod_disrupted",
        "endpoint_ready",
        "endpoint_not_ready",
        "endpoint_removed",
        "container_started",
        "container_terminated",
        "k8s_event",
        "disruption",
    }
)


@dataclass(frozen=True)
class DeployContext:
    """Where a workload is deployed, and with what the session offers."""

    kube: Kube
    namespace: str
    image: str  # the session's sample image, when the workload `uses_session_image`


@dataclass(frozen=True)
class Target:
    """What a scenario disrupts and loads once the workload is deployed."""

    kind: str  # Deployment or StatefulSet: the controller whose pods are terminated
    name: str
    selector: str  # label selector of its pods
    service: str  # the Service whose EndpointSlices the timeline watches
    node_port: int  # where load from the host enters, on 127.0.0.1 (0: none)
    replicas: int
    grace_seconds: int  # the pods' terminationGracePeriodSeconds
    pod_port: int | None = None  # the port the pods serve the load on, for diagnostics
    # NodePorts of other protocols the workload serves, by the port name a traffic kind
    # enters (graceproof.traffic.Traffic.port): {"grpc": 30086, "websocket": 30087}.
    node_ports: Mapping[str, int] = field(default_factory=dict)
    # The ingress controller the load must go through (its kind), None: straight to
    # the Service. A load that enters the Service's ClusterIP would bypass it.
    through: str | None = None

    @property
    def ref(self) -> str:
        """`deployment/web`, as kubectl names it."""
        return f"{self.kind.lower()}/{self.name}"

    def node_port_for(self, port: str) -> int:
        """Where the load of a traffic kind entering `port` goes: `http` is node_port."""
        if port == "http" and self.node_port:
            return self.node_port
        if port not in self.node_ports:
            served = ", ".join([*(["http"] if self.node_port else []), *self.node_ports])
            raise WorkloadSpecError(
                f"{self.ref} serves no {port!r} NodePort for this traffic kind (it serves "
                f"{served or 'none'}); load it with another connection policy, from inside the "
                f"cluster (graceproof.placement.InCluster), or deploy a workload "
                f"that exposes {port!r} (the sample app: SampleApp(protocols=({port!r},)))"
            )
        return self.node_ports[port]


class Workload(ABC):
    """Something to prove: deployed into a namespace, then loaded and disrupted."""

    signals: ClassVar[frozenset[str]] = UNIVERSAL_SIGNALS
    """The timeline kinds this workload can give (graceproof.model.EVENT_KINDS)."""

    uses_session_image: ClassVar[bool] = False
    """Whether it runs the session's sample-workload image (`DeployContext.image`): only
    then is that image loaded into the cluster for it."""

    @property
    def label(self) -> str:
        """Readable name in scenario ids and reports: the class name in kebab case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", type(self).__name__).lower()

    @abstractmethod
    def deploy(self, ctx: DeployContext) -> Target:
        """Create the workload in `ctx.namespace`; return once every replica is ready."""

    @property
    def expected(self) -> Expected:
        """What a proof of it must show unless the scenario says otherwise."""
        return "no-errors"

    def parameters(self) -> dict[str, Any]:
        """Every parameter, for the result (dataclass fields by default)."""
        return parameters_of(self)

    def changed(self) -> dict[str, Any]:
        """The parameters that differ from their defaults: they go into scenario ids."""
        return changed_parameters(self)
