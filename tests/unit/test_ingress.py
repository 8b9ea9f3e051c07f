"""The traffic-path seam and Traefik's manifests (pure logic; the proofs run on the
cluster in tests/e2e/test_ingress_proofs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from graceproof.errors import WorkloadSpecError
from graceproof.hooks import SleepHook
from graceproof.ingress import ThroughIngress, Traefik, ingress_for
from graceproof.ingress.base import IngressController
from graceproof.ingress.traefik import TRAEFIK_VERSION
from graceproof.scenario import Scenario
from graceproof.workloads import DeployContext, SampleApp, Target, Workload

NAMESPACED = {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"}


def test_a_proof_through_an_ingress_has_its_own_readable_id() -> None:
    sc = Scenario(ThroughIngress(SampleApp(SleepHook(5)), Traefik()))
    assert sc.scenario_id == "prestop-sleep-via-traefik--delete-one-by-one--new"
    moved = Scenario(
        ThroughIngress(SampleApp(SleepHook(5), node_port=30081), Traefik(node_port=30088))
    )
    assert moved.scenario_id == sc.scenario_id  # ports are not part of what is proven
    throttled = Scenario(ThroughIngress(SampleApp(SleepHook(5)), Traefik(throttle_s=0.5)))
    assert throttled.scenario_id.startswith(sc.scenario_id + "--")
    params = sc.parameters()["workload"]
    assert params["controller"]["kind"] == "traefik"
    assert params["workload"]["type"] == "SampleApp"


def test_traefik_in_the_hosts_network_binds_the_node_address_on_ports_of_its_node_port() -> None:
    objs = Traefik(node_port=30089).manifests("ns1", host_network=True)
    assert {o["kind"] for o in objs} == NAMESPACED  # nothing cluster-wide is left behind
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    args = pod["containers"][0]["args"]
    assert "--entryPoints.web.address=$(POD_IP):20089" in args
    assert "--providers.kubernetesingress.namespaces=ns1" in args
    assert "--providers.kubernetesingress.endpoint=https://127.0.0.1:6443" in args
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["port"] == 21089
    service = next(o for o in objs if o["kind"] == "Service")
    assert service["spec"]["ports"][0] == {
        "name": "web",
        "port": 80,
        "targetPort": 20089,
        "nodePort": 30089,
    }
    binding = next(o for o in objs if o["kind"] == "RoleBinding")
    assert binding["subjects"][0]["namespace"] == "ns1"


def test_traefik_in_a_pod_network_uses_its_usual_ports_and_the_in_cluster_api() -> None:
    objs = Traefik(throttle_s=0.5).manifests("ns1", host_network=False)
    pod = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "hostNetwork" not in pod
    assert "--entryPoints.web.address=$(POD_IP):8000" in args
    assert not any("kubernetesingress.endpoint" in a for a in args)
    assert "--providers.kubernetesingress.throttleDuration=0.5s" in args


def test_an_ingress_routes_every_path_to_the_service_for_its_controller_only() -> None:
    ing = ingress_for("web", 8080, "graceproof-traefik")
    # The annotation, which a cluster's default IngressClass does not override.
    assert ing["metadata"]["annotations"] == {"kubernetes.io/ingress.class": "graceproof-traefik"}
    assert "ingressClassName" not in ing["spec"]
    args = Traefik().args("ns1", host_network=False)
    assert "--providers.kubernetesingress.ingressClass=graceproof-traefik" in args
    path = ing["spec"]["rules"][0]["http"]["paths"][0]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    assert path["backend"] == {"service": {"name": "web", "port": {"number": 8080}}}


TARGET = Target("Deployment", "web", "app=web", "web", 30085, 2, 30, 8080)


@dataclass(frozen=True)
class _App(Workload):
    calls: list[str] = field(default_factory=list, compare=False)

    def deploy(self, ctx: DeployContext) -> Target:
        self.calls.append("workload")
        return TARGET


@dataclass(frozen=True)
class _Controller(IngressController):
    kind: ClassVar[str] = "fake"
    ingress_class: ClassVar[str] = "fake"
    calls: list[str] = field(default_factory=list, compare=False)

    def install(self, ctx: DeployContext) -> int:
        self.calls.append("install")
        return 30089

    def route(self, ctx: DeployContext, target: Target) -> None:
        self.calls.append(f"route {target.service}")


def test_the_workload_comes_first_then_the_controller_and_its_route() -> None:
    calls: list[str] = []
    through = ThroughIngress(_App(calls), _Controller(calls))
    ctx: Any = DeployContext(kube=None, namespace="ns", image="img")  # type: ignore[arg-type]
    target = through.deploy(ctx)
    assert calls == ["workload", "install", "route web"]
    # The load enters the controller; the timeline still watches the app's Service.
    assert (target.node_port, target.service, target.selector) == (30089, "web", "app=web")


def test_the_session_image_is_loaded_only_for_a_workload_that_runs_it() -> None:
    assert ThroughIngress(SampleApp(SleepHook(5)), Traefik()).uses_session_image
    assert not ThroughIngress(_App(), Traefik()).uses_session_image


class _Port:
    def __init__(self, port: int, target_port: int | str) -> None:
        self.port, self.target_port = port, target_port


class _Core:
    def __init__(self, ports: list[_Port]) -> None:
        self.ports = ports

    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> Any:
        spec = type("Spec", (), {"ports": self.ports})
        return type("Svc", (), {"spec": spec})


class _Kube:
    def __init__(self, ports: list[_Port]) -> None:
        self.core = _Core(ports)
        self.applied: list[Any] = []

    def apply(self, docs: list[Any], namespace: str) -> None:
        self.applied.extend(docs)


def test_the_route_goes_to_the_service_port_that_leads_to_the_pods_port() -> None:
    kube = _Kube([_Port(9090, 9090), _Port(80, 8080)])
    ctx: Any = DeployContext(kube=kube, namespace="ns", image="")  # type: ignore[arg-type]
    Traefik().route(ctx, TARGET)
    (ingress,) = kube.applied
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "web", "port": {"number": 80}}}


def test_a_service_of_several_ports_none_to_the_pods_is_refused_by_name() -> None:
    kube = _Kube([_Port(9090, 9090), _Port(9091, 9091)])
    ctx: Any = DeployContext(kube=kube, namespace="ns", image="")  # type: ignore[arg-type]
    with pytest.raises(WorkloadSpecError, match="service/web has 2 ports and none targets"):
        Traefik().route(ctx, TARGET)


def test_hack_builds_the_traefik_version_the_manifests_name() -> None:
    """hack/versions.env builds the version the manifests name."""
    env = (Path(__file__).resolve().parents[2] / "hack" / "versions.env").read_text()
    assert f"TRAEFIK_VERSION={TRAEFIK_VERSION}\n" in env
