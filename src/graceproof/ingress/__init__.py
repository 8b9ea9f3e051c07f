"""Traffic through an ingress controller: `ThroughIngress(workload, Traefik())`. A new
controller is one module with one `IngressController` subclass."""

from graceproof.ingress.base import IngressController, ThroughIngress, ingress_for
from graceproof.ingress.traefik import TRAEFIK_IMAGE, Traefik

__all__ = ["TRAEFIK_IMAGE", "IngressController", "ThroughIngress", "Traefik", "ingress_for"]
