"""Traefik, a widely used ingress controller, with its Kubernetes Ingress provider.

Traefik is one Go binary. Where no registry is reachable, `hack/ingress.sh` builds the
pinned release from the Go module proxy and packages it as an image under its
official name; on kind the official image is used, pinned by digest. Its official
Helm chart is not reachable here, so graceproof deploys it itself, with Traefik's
documented flags and the RBAC rules of Traefik's own manifest
(docs/content/reference/dynamic-configuration/kubernetes-crd-rbac.yml), narrowed to
the test namespace (a Role: nothing cluster-wide is left behind).

Traefik watches the namespace's Ingresses, Services and EndpointSlices and routes to
the pod IPs directly. Its lag comes from its providers' throttle: a new configuration
is applied at most every 2 s (`providers.providersThrottleDuration`), so a change
right after another waits up to 2 s (measured: lags of 0.04-1.99 s, median 0.26 s,
benchmarks/propagation.py). `throttle_s` sets the Ingress provider's own throttle
(`providers.kubernetesingress.throttleDuration`, 0 by default), on top of it.

On graceproof's local cluster the API server listens on 127.0.0.1 only and the
in-cluster `kubernetes` Service has no endpoints, so there Traefik runs in the host's
network namespace and reaches the API on 127.0.0.1:6443 with its ServiceAccount;
it then binds its ports on the node's address only, ports derived from its NodePort
so that a Traefik of a namespace still being deleted never holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from graceproof.ingress.base import IngressController
from graceproof.parameters import NOT_IN_ID
from graceproof.waiting import REQUEST_TIMEOUT, deployment_available
from graceproof.workloads.base import DeployContext

__all__ = ["TRAEFIK_IMAGE", "Traefik"]

TRAEFIK_VERSION = "v3.6.12"
# The official image's name: hack/ingress.sh imports its build under it on the local
# cluster. On kind, the digest of the official release (seen pinned in a public
# repository's compose file; not checked against the registry, none is reachable here).
TRAEFIK_IMAGE = f"docker.io/library/traefik:{TRAEFIK_VERSION}"
TRAEFIK_DIGEST = "sha256:171c9c3565b29f6c133f1c1b43c5d4e5853415198e9e1078c001f8702ff66aec"
NAME = "traefik"
LOCAL_API = "https://127.0.0.1:6443"
INGRESS_CLASS = "graceproof-traefik"


def _ingress_rules() -> list[dict[str, Any]]:
    """The rules of Traefik's ClusterRole that its Ingress provider uses."""
    read = ["get", "list", "watch"]
    return [
        {"apiGroups": [""], "resources": ["services", "secrets"], "verbs": read},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": read},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses/status"],
            "verbs": ["update"],
        },
    ]


@dataclass(frozen=True, kw_only=True)
class Traefik(IngressController):
    """Traefik in the test namespace, taking traffic on `node_port` of 127.0.0.1."""

    kind: ClassVar[str] = "traefik"
    ingress_class: ClassVar[str] = INGRESS_CLASS
    release_image: ClassVar[str] = f"{TRAEFIK_IMAGE}@{TRAEFIK_DIGEST}"
    # None: the Ingress provider's default (0 s), under the providers' 2 s throttle.
    throttle_s: float | None = None
    node_port: int = field(default=30089, metadata=NOT_IN_ID)
    image: str = field(default=TRAEFIK_IMAGE, metadata=NOT_IN_ID)
    ready_timeout_s: float = field(default=120.0, metadata=NOT_IN_ID)

    def install(self, ctx: DeployContext) -> int:
        host_network = not _api_service_reachable(ctx)
        ctx.kube.apply(self.manifests(ctx.namespace, host_network), ctx.namespace)
        deployment_available(ctx.kube.apps, ctx.namespace, NAME).wait(self.ready_timeout_s)
        return self.node_port

    def ports(self, host_network: bool) -> tuple[int, int]:
        """(web, ping) container ports: fixed in a pod network, derived from the NodePort
        in the host's (30089 -> 20089 and 21089)."""
        if not host_network:
            return 8000, 8080
        return self.node_port - 10000, self.node_port - 9000

    def args(self, namespace: str, host_network: bool) -> list[str]:
        web, ping = self.ports(host_network)
        return [
            f"--entryPoints.web.address=$(POD_IP):{web}",
            f"--entryPoints.traefik.address=$(POD_IP):{ping}",
            "--ping=true",
            "--log.level=INFO",
            *self.provider_args(namespace, host_network),
        ]

    def provider_args(self, namespace: str, host_network: bool) -> list[str]:
        """The flags of the provider Traefik reads its routes from: here its Ingress one."""
        args = [
            "--providers.kubernetesingress=true",
            f"--providers.kubernetesingress.namespaces={namespace}",
            # Only Ingresses of this class (an annotation, which a cluster's default
            # IngressClass does not override): no other controller takes them.
            f"--providers.kubernetesingress.ingressClass={INGRESS_CLASS}",
            # IngressClasses and nodes are cluster-wide: a Role cannot grant them.
            "--providers.kubernetesingress.disableClusterScopeResources=true",
        ]
        if self.throttle_s is not None:
            args.append(f"--providers.kubernetesingress.throttleDuration={self.throttle_s}s")
        if host_network:
            args.append(f"--providers.kubernetesingress.endpoint={LOCAL_API}")
        return args

    def rules(self) -> list[dict[str, Any]]:
        """The RBAC rules of its Role in the test namespace."""
        return _ingress_rules()

    def manifests(self, namespace: str, host_network: bool) -> list[dict[str, Any]]:
        labels = {"app.kubernetes.io/name": NAME}
        web, _ = self.ports(host_network)
        return [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": NAME},
                "rules": self.rules(),
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": NAME},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
                "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
            },
            self._deployment(namespace, host_network, labels),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": NAME, "labels": labels},
                "spec": {
                    "type": "NodePort",
                    "selector": labels,
                    "ports": [
                        {"name": "web", "port": 80, "targetPort": web, "nodePort": self.node_port}
                    ],
                },
            },
        ]

    def _deployment(
        self, namespace: str, host_network: bool, labels: dict[str, str]
    ) -> dict[str, Any]:
        _, ping = self.ports(host_network)
        container = {
            "name": NAME,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "args": self.args(namespace, host_network),
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "readinessProbe": {
                "httpGet": {"path": "/ping", "port": ping},
                "periodSeconds": 1,
                "failureThreshold": 2,
            },
        }
        spec: dict[str, Any] = {
            "serviceAccountName": NAME,
            "terminationGracePeriodSeconds": 5,
            "containers": [container],
        }
        if host_network:
            spec |= {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }


def _api_service_reachable(ctx: DeployContext) -> bool:
    """Whether pods reach the API through the `kubernetes` Service (it has endpoints)."""
    slices = ctx.kube.discovery.list_namespaced_endpoint_slice(
        "default",
        label_selector="kubernetes.io/service-name=kubernetes",
        _request_timeout=REQUEST_TIMEOUT,
    ).items
    return any(s.endpoints for s in slices)
