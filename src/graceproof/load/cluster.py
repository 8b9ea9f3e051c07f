"""The load in the cluster (`InCluster`): a Locust master and workers as pods of the
test namespace, loading the target Service's ClusterIP.

For clusters whose NodePorts are not on 127.0.0.1 (EKS, GKE, AKS, a shared staging
cluster behind a kubeconfig), and for rates one machine cannot drive. The load can
reach a target when its Service has a ClusterIP, a port for the traffic kind and a
ready endpoint (`check_reachable`). The run itself: graceproof.load.cluster_run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graceproof.errors import WaitTimeout, WorkloadSpecError
from graceproof.kube import Kube
from graceproof.load.cluster_run import ClusterLoadRun
from graceproof.load.placement import LoadContext, Placement
from graceproof.load.settings import LoadSettings
from graceproof.traffic import traffic
from graceproof.traffic.base import Traffic
from graceproof.waiting import REQUEST_TIMEOUT, wait_for
from graceproof.workloads.base import NOT_IN_ID, Target

__all__ = ["OFFICIAL_LOCUST_IMAGE", "InCluster", "Resources"]

# The official Locust image, pinned by digest (hack/versions.env LOCUST_OFFICIAL_IMAGE,
# where it says where the digest was seen): 2.46.6, the newest release seen pinned in
# public repositories; graceproof runs 2.47.0 itself. HTTP kinds only.
OFFICIAL_LOCUST_IMAGE = (
    "docker.io/locustio/locust:2.46.6"
    "@sha256:d43616228012a7d79b883e2ecd42f87640469377f2b666c4ab27e5248dfdf35f"
)
# The EndpointSlice follows a Ready pod a moment after the workload is available.
ENDPOINTS_SYNC_S = 5.0


@dataclass(frozen=True)
class Resources:
    """Requests and limits of each load pod."""

    cpu_request: str = "100m"
    cpu_limit: str = "1"
    memory_request: str = "128Mi"
    memory_limit: str = "512Mi"

    def render(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class InCluster(Placement):
    """A Locust master and `workers` workers as pods, loading the Service's ClusterIP.

    InCluster(workers=2)                              # the official Locust image
    InCluster(workers=4, image="graceproof/load:0.1.0")  # graceproof's, loaded locally

    The official image carries Locust only: the HTTP traffic kinds. gRPC, WebSocket and
    SSE need graceproof's load image (workloads/load/Dockerfile, hack/images.sh).
    """

    kind = "cluster"
    workers: int = 2
    image: str = field(default=OFFICIAL_LOCUST_IMAGE, metadata=NOT_IN_ID)
    resources: Resources = field(default_factory=Resources)
    node_selector: Mapping[str, str] | None = field(default=None, metadata=NOT_IN_ID)
    # How long the pods may take to run (image pull, scheduling).
    start_timeout_s: float = field(default=120.0, metadata=NOT_IN_ID)

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 64:
            raise WorkloadSpecError(
                f"InCluster.workers must be 1-64 (each a Locust worker pod), not {self.workers}"
            )
        if not self.image.strip():
            raise WorkloadSpecError("InCluster.image must name an image with Locust")

    def runner(self, ctx: LoadContext) -> ClusterLoadRun:
        return ClusterLoadRun(self, ctx)

    def check_image(self, kind: Traffic) -> None:
        """The official image has clients for the HTTP kinds only."""
        if kind.name not in ("new", "keepalive") and self.image == OFFICIAL_LOCUST_IMAGE:
            raise WorkloadSpecError(
                f"InCluster: the official Locust image has no client for {kind.name!r} "
                "(grpcio, websocket-client, sseclient-py); give InCluster(image=...) "
                "graceproof's load image (workloads/load/Dockerfile)"
            )

    def check_reachable(
        self, kube: Kube, namespace: str, target: Target, load: LoadSettings
    ) -> None:
        """The Service has a ClusterIP, a port for the load's traffic kind and a ready
        endpoint (waited for a moment: the EndpointSlice follows the pods)."""
        self.service_address(kube, namespace, target, traffic(load.connection))
        self.check_endpoints(kube, namespace, target)

    def service_address(
        self, kube: Kube, namespace: str, target: Target, kind: Traffic
    ) -> tuple[str, int]:
        """The ClusterIP and port the load enters."""
        svc = kube.core.read_namespaced_service(
            target.service, namespace, _request_timeout=REQUEST_TIMEOUT
        )
        ip = svc.spec.cluster_ip
        if not ip or ip == "None":
            raise WorkloadSpecError(
                f"service/{target.service} has no ClusterIP (headless): the in-cluster load "
                "enters a Service's ClusterIP; give the workload a Service with one"
            )
        ports = svc.spec.ports or []
        wanted = kind.port
        for p in ports:
            if wanted != "http" and p.name == wanted:
                return ip, int(p.port)
            if wanted == "http" and (
                len(ports) == 1 or str(p.target_port) == str(target.pod_port) or p.name == "http"
            ):
                return ip, int(p.port)
        raise WorkloadSpecError(
            f"service/{target.service} has no port named {wanted!r} for connection "
            f"{kind.name!r}; its ports: {[p.name or p.port for p in ports]}"
        )

    def check_endpoints(
        self, kube: Kube, namespace: str, target: Target, timeout_s: float = ENDPOINTS_SYNC_S
    ) -> None:
        """The Service has a ready endpoint (within timeout_s; 0: one look)."""

        def ready() -> bool | None:
            slices = kube.discovery.list_namespaced_endpoint_slice(
                namespace,
                label_selector=f"kubernetes.io/service-name={target.service}",
                _request_timeout=REQUEST_TIMEOUT,
            ).items
            endpoints = (e for s in slices for e in s.endpoints or [])
            return any(e.conditions is not None and e.conditions.ready for e in endpoints) or None

        try:
            wait_for(
                ready,
                what=f"a ready endpoint of service/{target.service}",
                timeout=timeout_s,
                transient=(),  # an API error is not a missing endpoint
            )
        except WaitTimeout:
            raise WorkloadSpecError(
                f"service/{target.service} has no ready endpoint: its selector "
                f"matches no Ready pod, so the load would have nothing to reach; check the "
                f"Service's selector against the pods of {target.ref}"
            ) from None
