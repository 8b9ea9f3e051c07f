"""The Gateway API path: Traefik's Gateway provider, its objects and RBAC, the CRD check
and installer (pure logic, fake API objects; the proofs run on the cluster in
tests/e2e/test_gateway_proofs.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from kubernetes.client.exceptions import ApiException

from graceproof.errors import ManifestRejectedError
from graceproof.hooks import SleepHook
from graceproof.ingress import (
    CONTROLLERS,
    GATEWAY_API_VERSION,
    GATEWAYS,
    GatewayApiMissingError,
    GatewayController,
    ThroughIngress,
    Traefik,
    TraefikGateway,
    gateway_named,
)
from graceproof.ingress import traefik_gateway as tg
from graceproof.ingress.gateway import (
    GATEWAY_NAME,
    NAMESPACE_LABEL,
    gateway_class_for,
    gateway_class_name,
    gateway_for,
    http_route_for,
    namespace_owned,
    route_accepted,
)
from graceproof.ingress.gateway_crds import (
    REQUIRED_CRDS,
    check_crds,
    crds_in,
    install_crds,
    missing_crds,
)
from graceproof.namespaces import MANAGED_BY_LABEL, RUN_ID_LABEL
from graceproof.scenario import Scenario
from graceproof.workloads import DeployContext, SampleApp, Target

ROOT = Path(__file__).resolve().parents[2]
NAMESPACED = {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"}


# Fakes of the API groups ---------------------------------------------------------------
def _crd(plural: str, versions: tuple[str, ...], *, established: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{plural}.gateway.networking.k8s.io",
            "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.1.0"},
        },
        "spec": {"versions": [{"name": v, "served": True} for v in versions]},
        "status": {
            "conditions": [{"type": "Established", "status": "True" if established else "False"}]
        },
    }


def _all_crds() -> dict[str, dict[str, Any]]:
    return {
        f"{plural}.gateway.networking.k8s.io": _crd(plural, (version,))
        for plural, version in REQUIRED_CRDS.items()
    }


class _Extensions:
    def __init__(self, crds: dict[str, dict[str, Any]]) -> None:
        self.crds = crds
        self.created: list[str] = []

    def read_custom_resource_definition(self, name: str, **kw: Any) -> Any:
        assert kw["_preload_content"] is False  # the client's model refuses some CRDs
        if name not in self.crds:
            raise ApiException(status=404)
        return SimpleNamespace(data=json.dumps(self.crds[name]).encode())

    def create_custom_resource_definition(self, body: dict[str, Any], **kw: Any) -> Any:
        assert kw["_preload_content"] is False
        name = body["metadata"]["name"]
        self.created.append(name)
        versions = tuple(v["name"] for v in body["spec"]["versions"] if v.get("served"))
        self.crds[name] = _crd(name.split(".")[0], versions)


class _Custom:
    def __init__(self, route_status: dict[str, Any] | None = None) -> None:
        self.created: list[tuple[str, str | None, dict[str, Any]]] = []
        self.route_status = route_status or {}
        self.refuse: int | None = None

    def create_cluster_custom_object(
        self, group: str, version: str, plural: str, body: Any, **_: Any
    ) -> None:
        self._create(plural, None, body)

    def create_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: Any, **_: Any
    ) -> None:
        assert (group, version) == ("gateway.networking.k8s.io", "v1")
        self._create(plural, namespace, body)

    def _create(self, plural: str, namespace: str | None, body: dict[str, Any]) -> None:
        if self.refuse:
            raise ApiException(status=self.refuse, reason="Unprocessable")
        self.created.append((plural, namespace, body))

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **_: Any
    ) -> Any:
        return {"metadata": {"name": name}, "status": self.route_status}


class _Port:
    def __init__(self, port: int, target_port: int | str) -> None:
        self.port, self.target_port = port, target_port


class _Core:
    def read_namespace(self, name: str, **_: Any) -> Any:
        labels = {RUN_ID_LABEL: "r1", MANAGED_BY_LABEL: "graceproof"}
        return SimpleNamespace(metadata=SimpleNamespace(uid="uid-1", labels=labels))

    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> Any:
        return SimpleNamespace(spec=SimpleNamespace(ports=[_Port(9090, 9090), _Port(80, 8080)]))


class _Discovery:
    def __init__(self, api_has_endpoints: bool) -> None:
        self.endpoints = [object()] if api_has_endpoints else []

    def list_namespaced_endpoint_slice(self, namespace: str, **_: Any) -> Any:
        return SimpleNamespace(items=[SimpleNamespace(endpoints=self.endpoints)])


class _Kube:
    def __init__(
        self,
        crds: dict[str, dict[str, Any]] | None = None,
        *,
        api_has_endpoints: bool = True,
        route_status: dict[str, Any] | None = None,
    ) -> None:
        self.extensions = _Extensions(_all_crds() if crds is None else crds)
        self.custom = _Custom(route_status)
        self.core = _Core()
        self.discovery = _Discovery(api_has_endpoints)
        self.apps = object()
        self.applied: list[dict[str, Any]] = []

    def apply(self, docs: list[dict[str, Any]], namespace: str) -> None:
        self.applied.extend(docs)


def _ctx(kube: _Kube, namespace: str = "ns1") -> Any:
    return DeployContext(kube=kube, namespace=namespace, image="")  # type: ignore[arg-type]


TARGET = Target("Deployment", "web", "app=web", "web", 30085, 2, 30, 8080)
ACCEPTED = {
    "parents": [
        {
            "parentRef": {"name": GATEWAY_NAME},
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}],
        }
    ]
}


# The seam ----------------------------------------------------------------------------------
def test_traefik_gateway_is_a_gateway_choice_and_not_an_ingress_one() -> None:
    assert GATEWAYS.names() == ("traefik",) and GATEWAYS["traefik"] is TraefikGateway
    assert CONTROLLERS["traefik"] is Traefik and "traefik-gateway" not in CONTROLLERS
    made = gateway_named("traefik", node_port=30083, image="my/traefik:1")
    assert isinstance(made, TraefikGateway) and isinstance(made, GatewayController)
    assert (made.node_port, made.image) == (30083, "my/traefik:1")
    assert TraefikGateway.release_image == Traefik.release_image  # the same binary


def test_a_gateway_controller_of_ones_own_registers_under_its_gateway_name() -> None:
    class Mine(GatewayController):
        kind: ClassVar[str] = "mine-gateway"
        gateway: ClassVar[str] = "mine"
        controller_name: ClassVar[str] = "example.com/gateway"

        def install(self, ctx: DeployContext) -> int:
            return 30089

    assert GATEWAYS["mine"] is Mine and "mine-gateway" not in CONTROLLERS


def test_a_proof_through_the_gateway_has_its_own_readable_id() -> None:
    sc = Scenario(ThroughIngress(SampleApp(SleepHook(5)), TraefikGateway()))
    assert sc.scenario_id == "prestop-sleep-via-traefik-gateway--delete-one-by-one--new"
    moved = Scenario(
        ThroughIngress(SampleApp(SleepHook(5), node_port=30083), TraefikGateway(node_port=30084))
    )
    assert moved.scenario_id == sc.scenario_id  # ports are not part of what is proven
    ingress = Scenario(ThroughIngress(SampleApp(SleepHook(5)), Traefik()))
    assert ingress.scenario_id != sc.scenario_id
    assert sc.parameters()["workload"]["controller"]["kind"] == "traefik-gateway"


# Traefik's flags and RBAC ------------------------------------------------------------------
def test_traefik_runs_its_gateway_provider_not_its_ingress_one() -> None:
    args = TraefikGateway(throttle_s=0.5).args("ns1", host_network=False)
    assert "--providers.kubernetesgateway=true" in args
    assert "--providers.kubernetesgateway.namespaces=ns1" in args
    # Only its own namespace's GatewayClass: concurrent tests' Traefiks leave each other's be.
    assert f"--providers.kubernetesgateway.labelSelector={NAMESPACE_LABEL}=ns1" in args
    assert "--providers.kubernetesgateway.throttleDuration=0.5s" in args
    assert not any("kubernetesingress" in a for a in args)
    assert not any("experimentalChannel" in a for a in args)  # the standard channel only
    assert "--entryPoints.web.address=$(POD_IP):8000" in args
    assert not any(".endpoint=" in a for a in args)


def test_in_the_hosts_network_it_reaches_the_api_on_the_node_and_binds_derived_ports() -> None:
    gw = TraefikGateway(node_port=30084)
    args = gw.args("ns1", host_network=True)
    assert "--entryPoints.web.address=$(POD_IP):20084" in args
    assert "--providers.kubernetesgateway.endpoint=https://127.0.0.1:6443" in args
    objs = gw.manifests("ns1", host_network=True)
    assert {o["kind"] for o in objs} == NAMESPACED
    pod = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    service = next(o for o in objs if o["kind"] == "Service")
    assert service["spec"]["ports"][0]["nodePort"] == 30084


def _rules_by_resource(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in rules:
        for resource in rule["resources"]:
            out.setdefault(resource, set()).update(rule["verbs"])
    return out


def test_its_role_grants_what_the_gateway_provider_reads_in_the_namespace() -> None:
    objs = TraefikGateway().manifests("ns1", host_network=False)
    role = next(o for o in objs if o["kind"] == "Role")
    rules = _rules_by_resource(role["rules"])
    namespaced = ("services", "secrets", "configmaps", "endpointslices", "gateways",
                  "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies")  # fmt: skip
    for resource in namespaced:
        assert {"list", "watch"} <= rules[resource], resource
    for status in ("gateways/status", "httproutes/status", "grpcroutes/status"):
        assert rules[status] == {"update"}
    assert "ingresses" not in rules and "namespaces" not in rules  # the latter: cluster-wide


def test_its_cluster_role_grants_namespaces_and_gateway_classes_tied_to_the_namespace() -> None:
    owned = {"labels": {"a": "b"}, "ownerReferences": [{"kind": "Namespace", "name": "ns1"}]}
    role, binding = TraefikGateway().cluster_manifests("ns1", owned)
    assert role["kind"] == "ClusterRole" and binding["kind"] == "ClusterRoleBinding"
    assert role["metadata"]["name"] == binding["roleRef"]["name"]
    assert role["metadata"]["name"].endswith("-ns1")  # one per namespace
    rules = _rules_by_resource(role["rules"])
    assert rules == {
        "namespaces": {"list", "watch"},
        "gatewayclasses": {"get", "list", "watch"},
        "gatewayclasses/status": {"update"},
    }
    for obj in (role, binding):
        assert obj["metadata"]["ownerReferences"] == owned["ownerReferences"]
        assert obj["metadata"]["labels"] == owned["labels"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "traefik", "namespace": "ns1"}
    ]


# The Gateway API objects -------------------------------------------------------------------
def test_each_namespace_has_its_own_gateway_class_owned_by_it() -> None:
    kube = _Kube()
    owned = namespace_owned(kube, "gp-r1-test-abcde")  # type: ignore[arg-type]
    assert owned["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Namespace", "name": "gp-r1-test-abcde", "uid": "uid-1"}
    ]
    assert owned["labels"] == {
        MANAGED_BY_LABEL: "graceproof",
        RUN_ID_LABEL: "r1",
        NAMESPACE_LABEL: "gp-r1-test-abcde",
    }
    cls = gateway_class_for("gp-r1-test-abcde", "traefik.io/gateway-controller", owned)
    assert cls["kind"] == "GatewayClass"
    assert cls["metadata"]["name"] == gateway_class_name("gp-r1-test-abcde")
    assert cls["metadata"]["name"] == "graceproof-gp-r1-test-abcde"
    assert cls["spec"] == {"controllerName": "traefik.io/gateway-controller"}
    assert cls["metadata"]["ownerReferences"] == owned["ownerReferences"]


def test_the_gateway_listens_on_the_entry_points_port_for_routes_of_its_namespace() -> None:
    gw = gateway_for("ns1", 8000)
    assert gw["apiVersion"] == "gateway.networking.k8s.io/v1" and gw["kind"] == "Gateway"
    assert gw["spec"]["gatewayClassName"] == "graceproof-ns1"
    (listener,) = gw["spec"]["listeners"]
    assert listener == {
        "name": "web",
        "protocol": "HTTP",
        "port": 8000,
        "allowedRoutes": {"namespaces": {"from": "Same"}},
    }


def test_the_http_route_sends_every_path_of_any_host_to_the_service() -> None:
    route = http_route_for("web", 80)
    assert route["kind"] == "HTTPRoute" and route["metadata"]["name"] == "web"
    assert "hostnames" not in route["spec"]
    assert route["spec"]["parentRefs"] == [{"name": GATEWAY_NAME, "sectionName": "web"}]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["backendRefs"] == [{"name": "web", "port": 80}]


def test_install_checks_the_crds_then_makes_traefik_its_class_and_its_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waited: list[float] = []
    ready = SimpleNamespace(wait=lambda timeout: waited.append(timeout))
    monkeypatch.setattr(tg, "deployment_available", lambda apps, ns, name: ready)
    kube = _Kube(api_has_endpoints=False)  # the local cluster: the host's network
    assert TraefikGateway(node_port=30084).install(_ctx(kube)) == 30084
    assert [o["kind"] for o in kube.applied] == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
    ]
    (cls_plural, cls_ns, cls), (gw_plural, gw_ns, gw) = kube.custom.created
    assert (cls_plural, cls_ns) == ("gatewayclasses", None)  # cluster-wide
    assert cls["metadata"]["labels"][NAMESPACE_LABEL] == "ns1"  # what Traefik selects
    assert cls["spec"]["controllerName"] == "traefik.io/gateway-controller"
    assert (gw_plural, gw_ns) == ("gateways", "ns1")
    assert gw["spec"]["listeners"][0]["port"] == 20084  # the web entry point's port
    assert waited == [120.0]


def test_install_refuses_a_cluster_without_the_crds_before_making_anything() -> None:
    crds = _all_crds()
    del crds["httproutes.gateway.networking.k8s.io"]
    kube = _Kube(crds)
    with pytest.raises(GatewayApiMissingError) as err:
        TraefikGateway().install(_ctx(kube))
    assert kube.applied == [] and kube.custom.created == []
    message = str(err.value)
    assert "httproutes.gateway.networking.k8s.io (not installed)" in message
    assert "hack/gateway-api.sh" in message and "kubectl apply --server-side -f" in message
    assert f"download/{GATEWAY_API_VERSION}/standard-install.yaml" in message


def test_route_attaches_an_http_route_and_waits_until_it_is_accepted() -> None:
    kube = _Kube(route_status=ACCEPTED)
    TraefikGateway().route(_ctx(kube), TARGET)
    ((plural, namespace, route),) = kube.custom.created
    assert (plural, namespace) == ("httproutes", "ns1")
    # The Service port that leads to the pods' port 8080.
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "web", "port": 80}]


def test_a_route_the_controller_refuses_times_out_with_its_reason() -> None:
    refused = {
        "parents": [
            {
                "parentRef": {"name": GATEWAY_NAME},
                "conditions": [
                    {
                        "type": "Accepted",
                        "status": "False",
                        "reason": "NotAllowedByListeners",
                        "message": "no listener",
                    }
                ],
            }
        ]
    }
    from graceproof.errors import WaitTimeout

    kube = _Kube(route_status=refused)
    with pytest.raises(WaitTimeout, match="NotAllowedByListeners: no listener"):
        route_accepted(kube, "ns1", "web").wait(0.3, interval=0.05)  # type: ignore[arg-type]


def test_an_object_the_api_server_refuses_names_its_kind() -> None:
    kube = _Kube()
    kube.custom.refuse = 422
    with pytest.raises(ManifestRejectedError, match="HTTPRoute 'web'"):
        TraefikGateway().route(_ctx(kube), TARGET)


# The CRDs ----------------------------------------------------------------------------------
def test_missing_crds_names_each_missing_or_older_one() -> None:
    crds = _all_crds()
    del crds["grpcroutes.gateway.networking.k8s.io"]
    crds["backendtlspolicies.gateway.networking.k8s.io"] = _crd("backendtlspolicies", ("v1alpha3",))
    crds["gateways.gateway.networking.k8s.io"] = _crd("gateways", ("v1",), established=False)
    assert missing_crds(_Kube(crds)) == [  # type: ignore[arg-type]
        "gateways.gateway.networking.k8s.io (not Established yet)",
        "grpcroutes.gateway.networking.k8s.io (not installed)",
        "backendtlspolicies.gateway.networking.k8s.io (serves v1alpha3, not v1: it is from v1.1.0)",
    ]
    check_crds(_Kube())  # type: ignore[arg-type]  # all there: no error


def _crd_file(tmp_path: Path) -> Path:
    docs = []
    for plural, version in REQUIRED_CRDS.items():
        docs.append(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
            f"metadata:\n  name: {plural}.gateway.networking.k8s.io\n"
            f"spec:\n  versions:\n  - name: {version}\n    served: true\n"
        )
    path = tmp_path / "standard-install.yaml"
    path.write_text("# a comment\n---\n" + "---\n".join(docs), encoding="utf-8")
    return path


def test_the_installer_creates_only_the_missing_crds_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _crd_file(tmp_path)
    assert len(crds_in(path)) == len(REQUIRED_CRDS)
    crds = _all_crds()
    del crds["httproutes.gateway.networking.k8s.io"]
    del crds["referencegrants.gateway.networking.k8s.io"]
    kube = _Kube(crds)
    with caplog.at_level("INFO", logger="graceproof.ingress.gateway_crds"):
        created = install_crds(kube, path, timeout=1)  # type: ignore[arg-type]
    assert created == [
        "httproutes.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io",
    ]
    assert kube.extensions.created == created
    assert f"installed Gateway API {GATEWAY_API_VERSION} CRDs" in caplog.text
    assert "httproutes.gateway.networking.k8s.io" in caplog.text
    assert missing_crds(kube) == []  # type: ignore[arg-type]
    caplog.clear()
    with caplog.at_level("INFO", logger="graceproof.ingress.gateway_crds"):
        assert install_crds(kube, path) == []  # type: ignore[arg-type]
    assert "already installed" in caplog.text


# The pin -----------------------------------------------------------------------------------
def _versions_env() -> dict[str, str]:
    text = (ROOT / "hack" / "versions.env").read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z_]+)=(\S*)$", text, re.MULTILINE))


def test_the_gateway_api_release_is_pinned_once_for_the_hack_script_and_the_package() -> None:
    assert _versions_env()["GATEWAY_API_VERSION"] == GATEWAY_API_VERSION
    script = (ROOT / "hack" / "gateway-api.sh").read_text(encoding="utf-8")
    # Made from the release's Go module, not a copy kept in the repository.
    assert 'go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"' in script
    for folder in ("src", "hack", "tests", "fixtures", "docs", "workloads", "examples"):
        assert not list((ROOT / folder).rglob("gateway.networking.k8s.io_*.yaml")), folder
