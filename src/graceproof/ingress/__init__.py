"""Traffic through an ingress controller: `ThroughIngress(workload, Traefik())`, or
through Gateway API: `ThroughIngress(workload, TraefikGateway())`. A new controller is
one module with one `IngressController` (or `GatewayController`) subclass."""

from graceproof.ingress.base import (
    CONTROLLERS,
    IngressController,
    ThroughIngress,
    controller_named,
    ingress_for,
)
from graceproof.ingress.gateway import GATEWAYS, GatewayController, gateway_named
from graceproof.ingress.gateway_crds import (
    GATEWAY_API_VERSION,
    GatewayApiMissingError,
    check_crds,
    install_crds,
)
from graceproof.ingress.traefik import TRAEFIK_IMAGE, Traefik
from graceproof.ingress.traefik_gateway import TraefikGateway

__all__ = [
    "CONTROLLERS",
    "GATEWAYS",
    "GATEWAY_API_VERSION",
    "TRAEFIK_IMAGE",
    "GatewayApiMissingError",
    "GatewayController",
    "IngressController",
    "ThroughIngress",
    "Traefik",
    "TraefikGateway",
    "check_crds",
    "controller_named",
    "gateway_named",
    "ingress_for",
    "install_crds",
]
