"""Traefik with its Kubernetes Gateway provider: the Gateway API path (`--gateway traefik`).

The same Traefik binary, image, ports and Deployment as `Traefik` (graceproof.ingress.
traefik), with `--providers.kubernetesgateway` in place of the Ingress provider. The
flags and RBAC rules are those of Traefik v3.6.12's own docs and source
(docs/content/reference/install-configuration/providers/kubernetes/kubernetes-gateway.md,
docs/content/reference/dynamic-configuration/kubernetes-gateway-rbac.yml,
pkg/provider/kubernetes/gateway/client.go), split in two: what the provider reads in
the test namespace (a Role), and what it can only read cluster-wide, namespaces and
GatewayClasses (a ClusterRole, owned by the namespace like the GatewayClass:
graceproof.ingress.gateway). The docs' `pods get` rule is left out: it serves
OpenTelemetry only, which is off.

Traefik matches a Gateway's listener to the entry point whose address ends in the
listener's port (gateway/kubernetes.go, entryPointName), so the Gateway listens on
the web entry point's container port (8000, or 20089 for NodePort 30089 in the host's
network). Several tests may run their Traefiks at once: each reads only the
GatewayClass labelled with its namespace (`labelSelector` filters GatewayClasses),
so none marks another's class or reads another's Gateways.

Its lag: the same 2 s providers' throttle as the Ingress provider (measured through
the Gateway path, tests/e2e/test_gateway_proofs.py: lags of 1.51 s median, 1.94 s at
most over 5 terminations, beside 1.25 s and 1.79 s through the Ingress path).
`throttle_s` sets the Gateway provider's own `throttleDuration` (0 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from graceproof.ingress.gateway import (
    NAMESPACE_LABEL,
    GatewayController,
    create_custom,
    gateway_class_for,
    gateway_for,
    namespace_owned,
)
from graceproof.ingress.gateway_crds import GROUP, check_crds
from graceproof.ingress.traefik import LOCAL_API, NAME, Traefik, _api_service_reachable
from graceproof.waiting import deployment_available
from graceproof.workloads.base import DeployContext

__all__ = ["CONTROLLER_NAME", "TraefikGateway"]

# Traefik's GatewayClass controllerName (gateway/kubernetes.go).
CONTROLLER_NAME = "traefik.io/gateway-controller"
_READ = ["get", "list", "watch"]
_RESOURCES = [
    "gateways",
    "httproutes",
    "grpcroutes",
    "tcproutes",
    "tlsroutes",
    "referencegrants",
    "backendtlspolicies",
]


def _namespaced_rules() -> list[dict[str, Any]]:
    """The rules of Traefik's Gateway ClusterRole on namespaced kinds: its Role here."""
    return [
        {"apiGroups": [""], "resources": ["services", "secrets", "configmaps"], "verbs": _READ},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
        {"apiGroups": [GROUP], "resources": _RESOURCES, "verbs": _READ},
        {
            "apiGroups": [GROUP],
            "resources": [f"{r}/status" for r in _RESOURCES],
            "verbs": ["update"],
        },
    ]


def _cluster_rules() -> list[dict[str, Any]]:
    """Those on cluster-wide kinds: namespaces (for routes' namespace selectors, watched
    always) and GatewayClasses."""
    return [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": [GROUP], "resources": ["gatewayclasses"], "verbs": _READ},
        {"apiGroups": [GROUP], "resources": ["gatewayclasses/status"], "verbs": ["update"]},
    ]


@dataclass(frozen=True, kw_only=True)
class TraefikGateway(GatewayController, Traefik):
    """Traefik's Gateway provider in the test namespace, taking traffic on `node_port`
    of 127.0.0.1 through a Gateway and an HTTPRoute."""

    kind: ClassVar[str] = "traefik-gateway"
    gateway: ClassVar[str] = "traefik"
    controller_name: ClassVar[str] = CONTROLLER_NAME

    def install(self, ctx: DeployContext) -> int:
        """Refuse a cluster without Gateway API's CRDs; deploy Traefik with its RBAC,
        then the namespace's GatewayClass and Gateway; return once Traefik is Ready."""
        check_crds(ctx.kube)
        host_network = not _api_service_reachable(ctx)
        owned = namespace_owned(ctx.kube, ctx.namespace)
        ctx.kube.apply(self.cluster_manifests(ctx.namespace, owned), ctx.namespace)
        ctx.kube.apply(self.manifests(ctx.namespace, host_network), ctx.namespace)
        web, _ = self.ports(host_network)
        create_custom(
            ctx.kube, ctx.namespace, gateway_class_for(ctx.namespace, CONTROLLER_NAME, owned)
        )
        create_custom(ctx.kube, ctx.namespace, gateway_for(ctx.namespace, web))
        deployment_available(ctx.kube.apps, ctx.namespace, NAME).wait(self.ready_timeout_s)
        return self.node_port

    def provider_args(self, namespace: str, host_network: bool) -> list[str]:
        args = [
            "--providers.kubernetesgateway=true",
            f"--providers.kubernetesgateway.namespaces={namespace}",
            # Only this namespace's GatewayClass (the selector applies to GatewayClasses).
            f"--providers.kubernetesgateway.labelSelector={NAMESPACE_LABEL}={namespace}",
        ]
        if self.throttle_s is not None:
            args.append(f"--providers.kubernetesgateway.throttleDuration={self.throttle_s}s")
        if host_network:
            args.append(f"--providers.kubernetesgateway.endpoint={LOCAL_API}")
        return args

    def rules(self) -> list[dict[str, Any]]:
        return _namespaced_rules()

    def cluster_manifests(self, namespace: str, owned: dict[str, Any]) -> list[dict[str, Any]]:
        """The ClusterRole and ClusterRoleBinding of this namespace's Traefik, tied to the
        namespace by `owned` (graceproof.ingress.gateway.namespace_owned)."""
        name = f"graceproof-{NAME}-gateway-{namespace}"
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name, **owned},
                "rules": _cluster_rules(),
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name, **owned},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
            },
        ]
