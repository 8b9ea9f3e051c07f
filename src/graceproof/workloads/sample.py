"""The sample workload: graceproof's own app (workloads/app), in any preStop variant.

`SampleApp`, here, is the `Workload` of it; the `render*` functions
(sample_manifests.py) give its manifests as plain dicts (Deployment + NodePort Service,
a single Pod, the service registry); sample_scheduling.py places its pods and budgets
their disruption (`Pdb`); sample_examples.py writes the example YAML files. This module
also gives the names of those, as it did when it held them all. A variant is a
`graceproof.hooks.PreStopHook`, or the name of a shipped one: no-hook, prestop-exec,
prestop-http, prestop-sleep.

`python -m graceproof.workloads` (or `graceproof manifests`) regenerates the example
YAML files in workloads/manifests/; a unit test keeps them equal to `render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graceproof.errors import WorkloadSpecError
from graceproof.hooks import (
    APP_STDOUT,
    STOP_LOG_MESSAGE,
    STOP_LOG_PATH,
    PreStopHook,
    as_hook,
    prestop_exec_command,
)
from graceproof.model import Expected
from graceproof.parameters import NOT_IN_ID
from graceproof.waiting import workload_available
from graceproof.workloads.base import (
    NODE_PORTS,
    UNIVERSAL_SIGNALS,
    DeployContext,
    Target,
    Workload,
)
from graceproof.workloads.sample_examples import (
    example,
    example_yaml,
    main,
    stale_examples,
    to_yaml,
    write_examples,
)
from graceproof.workloads.sample_manifests import (
    APP_PORT,
    APP_SIGNALS,
    NAME_LABEL,
    PROTOCOLS,
    SHUTDOWN_MODES,
    VARIANTS,
    ShutdownMode,
    check,
    container,
    render,
    render_pod,
    render_registry,
    render_service,
)
from graceproof.workloads.sample_scheduling import SPREAD_TOPOLOGY_KEY, Pdb, check_node_selector

__all__ = [
    "APP_PORT",
    "APP_STDOUT",
    "NODE_PORTS",
    "SHUTDOWN_MODES",
    "SPREAD_TOPOLOGY_KEY",
    "STOP_LOG_MESSAGE",
    "STOP_LOG_PATH",
    "VARIANTS",
    "Pdb",
    "SampleApp",
    "ShutdownMode",
    "WorkloadSpecError",
    "container",
    "example",
    "example_yaml",
    "main",
    "prestop_exec_command",
    "render",
    "render_pod",
    "render_registry",
    "render_service",
    "stale_examples",
    "to_yaml",
    "write_examples",
]


@dataclass(frozen=True)
class SampleApp(Workload):
    """The sample app with one preStop variant, as a Deployment and a NodePort Service.

    SampleApp(SleepHook(5))                 # or SampleApp.variant("prestop-sleep")
    SampleApp(NoHook(), shutdown_mode="drain", replicas=2)
    SampleApp(SleepHook(5), pdb=Pdb(max_unavailable=1), spread=True)
    SampleApp(SleepHook(5), shutdown_mode="drain", protocols=("grpc", "websocket"))

    `pdb` adds a PodDisruptionBudget over the pods (deployed with them); `spread`
    places at most one replica more on any node than on another (topology spread on
    kubernetes.io/hostname, DoNotSchedule, cordoned nodes not counted); `node_selector`
    keeps every replica on the nodes carrying those labels, replacements included:
    after a drain of the only such node they stay Pending. `protocols` also serves
    gRPC, WebSocket and server-sent events (PROTOCOLS: "grpc", "websocket", "sse"), each
    on its own NodePort beside `node_port` (+1, +2, +3), for the traffic kinds that enter
    them (graceproof.traffic).
    """

    hook: PreStopHook
    replicas: int = 3
    grace_seconds: int = 30
    shutdown_mode: ShutdownMode = "immediate"
    name: str = field(default="web", metadata=NOT_IN_ID)
    # None: a ClusterIP Service only (an in-cluster load, graceproof.placement.InCluster,
    # needs no NodePort).
    node_port: int | None = field(default=30085, metadata=NOT_IN_ID)
    labels: Mapping[str, str] = field(default_factory=dict, metadata=NOT_IN_ID)
    ready_timeout_s: float = field(default=180.0, metadata=NOT_IN_ID)
    # Placement and budget: in the id only when set (their defaults render nothing).
    pdb: Pdb | None = None
    spread: bool = False
    node_selector: Mapping[str, str] | None = None
    protocols: tuple[str, ...] = ()

    signals: ClassVar[frozenset[str]] = UNIVERSAL_SIGNALS | APP_SIGNALS
    uses_session_image: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check(self.hook, self.grace_seconds, self.shutdown_mode, self.replicas)
        check_node_selector(self.node_selector)
        unknown = sorted(set(self.protocols) - set(PROTOCOLS))
        if unknown:
            raise WorkloadSpecError(
                f"SampleApp.protocols: {unknown} not served by the sample app; it serves "
                f"{sorted(PROTOCOLS)} beside http"
            )
        for proto, port in self.protocol_node_ports().items():
            if port not in NODE_PORTS:
                raise WorkloadSpecError(
                    f"SampleApp.node_port {self.node_port}: the {proto} NodePort it implies, "
                    f"{port}, is outside {NODE_PORTS.start}-{NODE_PORTS.stop - 1}; lower it"
                )

    def protocol_node_ports(self) -> dict[str, int]:
        """The NodePort of each protocol served beside http."""
        if self.node_port is None:
            return {}
        return {p: self.node_port + PROTOCOLS[p][2] for p in self.protocols}

    @classmethod
    def variant(cls, name: str, sleep_seconds: int | None = None, **kw: Any) -> SampleApp:
        """The sample app with the shipped hook called `name` (see graceproof.hooks)."""
        hook = as_hook(name) if sleep_seconds is None else as_hook(name, sleep_seconds)
        return cls(hook, **kw)

    @property
    def label(self) -> str:
        return self.hook.name

    @property
    def expected(self) -> Expected:
        return self.hook.expected

    def manifests(self, image: str) -> list[dict[str, Any]]:
        objects = render(
            self.hook,
            name=self.name,
            image=image,
            replicas=self.replicas,
            grace_seconds=self.grace_seconds,
            shutdown_mode=self.shutdown_mode,
            node_port=self.node_port or NODE_PORTS.start,  # dropped below when None
            labels=self.labels,
            pdb=self.pdb,
            spread=self.spread,
            node_selector=self.node_selector,
        )
        for obj in objects:
            if obj["kind"] == "Deployment":
                app = obj["spec"]["template"]["spec"]["containers"][0]
                for proto in self.protocols:
                    port, env, _ = PROTOCOLS[proto]
                    app["env"].append({"name": env, "value": str(port)})
                    app["ports"].append({"name": proto, "containerPort": port, "protocol": "TCP"})
            elif obj["kind"] == "Service":
                self._service_ports(obj["spec"])
        return objects

    def _service_ports(self, spec: dict[str, Any]) -> None:
        node_ports = self.protocol_node_ports()
        spec["ports"] += [
            {
                "name": proto,
                "port": PROTOCOLS[proto][0],
                "targetPort": PROTOCOLS[proto][0],
                "nodePort": node_ports.get(proto),
                "protocol": "TCP",
            }
            for proto in self.protocols
        ]
        if self.node_port is None:
            spec["type"] = "ClusterIP"
        for port in spec["ports"]:
            if port.get("nodePort") is None or self.node_port is None:
                port.pop("nodePort", None)

    def deploy(self, ctx: DeployContext) -> Target:
        ctx.kube.apply(self.manifests(ctx.image), ctx.namespace)
        target = Target(
            kind="Deployment",
            name=self.name,
            selector=f"{NAME_LABEL}={self.name}",
            service=self.name,
            node_port=self.node_port or 0,  # 0: none (a ClusterIP Service)
            replicas=self.replicas,
            grace_seconds=self.grace_seconds,
            pod_port=APP_PORT,
            node_ports=self.protocol_node_ports(),
        )
        workload_available(ctx.kube, ctx.namespace, target).wait(self.ready_timeout_s)
        return target
