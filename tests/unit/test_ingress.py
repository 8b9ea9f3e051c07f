"""The traffic-path seam and Traefik's manifests (pure logic; the proofs run on the
cluster in tests/e2e/test_ingress.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from graceproof.hooks import SleepHook
from graceproof.ingress import ThroughIngress, Traefik, ingress_for
from graceproof.ingress.base import IngressController
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


def test_an_ingress_routes_every_path_to_the_service() -> None:
    ing = ingress_for("web", 8080)
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
