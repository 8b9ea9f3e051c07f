"""Traffic through an ingress controller: `ThroughIngress(workload, Traefik())`. A new
controller is one module with one `IngressController` subclass."""

from graceproof.ingress.base import (
    CONTROLLERS,
    IngressController,
    ThroughIngress,
    controller_named,
    ingress_for,
)
from graceproof.ingress.traefik import TRAEFIK_IMAGE, Traefik

__all__ = [
    "CONTROLLERS",
    "TRAEFIK_IMAGE",
    "IngressController",
    "ThroughIngress",
    "Traefik",
    "controller_named",
    "ingress_for",
]
