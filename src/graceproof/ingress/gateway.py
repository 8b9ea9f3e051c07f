"""Gateway API as the traffic path: a Gateway and an HTTPRoute instead of an Ingress.

A Gateway controller is an `IngressController` whose `install` also makes a
GatewayClass for its controller name and one Gateway, listening on the controller's
HTTP entry point, and whose `route` attaches an HTTPRoute to that Gateway: every path
of any host to the target's Service. `ThroughIngress`, the scenario, the timeline and
the analysis do not change. The controllers are the CLI's --gateway choices
(`GATEWAYS`), apart from the --ingress ones.

A GatewayClass is cluster-wide, while all else lives in the test namespace. So each
namespace gets its own, `graceproof-<namespace>`, owned by the namespace (an
ownerReference): when the namespace goes, at a test's end, by the run's reaper after
Ctrl-C or by `graceproof clean`, Kubernetes' garbage collector deletes the class, and
the controller's ClusterRole and ClusterRoleBinding made the same way. They also carry
graceproof's labels (managed-by, the namespace's run id, the namespace), to find them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubernetes.client.exceptions import ApiException

from graceproof.errors import ManifestRejectedError
from graceproof.ingress.base import IngressController, service_port
from graceproof.ingress.gateway_crds import GROUP
from graceproof.kube import REQUEST_TIMEOUT, Kube, api_message
from graceproof.namespaces import MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_ID_LABEL
from graceproof.registry import Registry
from graceproof.wait_loop import Condition
from graceproof.workloads.base import DeployContext, Target

__all__ = [
    "GATEWAYS",
    "GATEWAY_NAME",
    "LISTENER",
    "NAMESPACE_LABEL",
    "GatewayController",
    "create_custom",
    "gateway_class_for",
    "gateway_class_name",
    "gateway_for",
    "gateway_named",
    "http_route_for",
    "namespace_owned",
    "route_accepted",
]

VERSION = "v1"
GATEWAY_NAME = "graceproof"
LISTENER = "web"
# On the cluster-wide objects of a namespace: which namespace they belong to.
NAMESPACE_LABEL = "graceproof.dev/namespace"
_ROUTE_TIMEOUT_S = 60.0


class GatewayController(IngressController):
    """A Gateway API controller, installed per test namespace with its own
    GatewayClass and Gateway; its routes are HTTPRoutes."""

    gateway: ClassVar[str]
    """Its name among the --gateway choices (e.g. "traefik")."""
    controller_name: ClassVar[str]
    """The `spec.controllerName` of the GatewayClasses it serves."""
    ingress_class: ClassVar[str] = ""  # it serves no Ingress
    route_timeout_s: ClassVar[float] = _ROUTE_TIMEOUT_S

    @classmethod
    def _register(cls) -> None:
        """Into GATEWAYS (--gateway) by `gateway`, not into CONTROLLERS (--ingress). This
        base itself, which names none, is defined before GATEWAYS and is skipped."""
        if vars(cls).get("gateway"):
            GATEWAYS.register_class(cls, "gateway")

    def route(self, ctx: DeployContext, target: Target) -> None:
        """An HTTPRoute from the Gateway to the Service port that leads to the pods; then
        wait (bounded) until the controller accepts it, so that a route it refuses says
        why here rather than as a load that never gets an answer."""
        port = service_port(ctx, target)
        create_custom(ctx.kube, ctx.namespace, http_route_for(target.service, port))
        route_accepted(ctx.kube, ctx.namespace, target.service).wait(self.route_timeout_s)


# Every Gateway controller class by its `gateway` name (the CLI's --gateway).
GATEWAYS: Registry[type[GatewayController]] = Registry("gateway controller", GatewayController)


def gateway_named(name: str, **parameters: Any) -> GatewayController:
    """The Gateway controller called `name` (e.g. "traefik"), built with `parameters`."""
    return GATEWAYS.lookup(name)(**parameters)


def gateway_class_name(namespace: str) -> str:
    """The GatewayClass of a test namespace: cluster-wide, so named after it."""
    return f"graceproof-{namespace}"


def namespace_owned(kube: Kube, namespace: str) -> dict[str, Any]:
    """The metadata that ties a cluster-wide object to `namespace`: an ownerReference
    (the garbage collector deletes the object once the namespace is gone) and
    graceproof's labels, the namespace's run id among them."""
    ns = kube.core.read_namespace(namespace, _request_timeout=REQUEST_TIMEOUT)
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, NAMESPACE_LABEL: namespace}
    run_id = (ns.metadata.labels or {}).get(RUN_ID_LABEL)
    if run_id:
        labels[RUN_ID_LABEL] = run_id
    owner = {"apiVersion": "v1", "kind": "Namespace", "name": namespace, "uid": ns.metadata.uid}
    return {"labels": labels, "ownerReferences": [owner]}


def gateway_class_for(
    namespace: str, controller_name: str, owned: dict[str, Any]
) -> dict[str, Any]:
    """The namespace's GatewayClass, for controllers named `controller_name`."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GatewayClass",
        "metadata": {"name": gateway_class_name(namespace), **owned},
        "spec": {"controllerName": controller_name},
    }


def gateway_for(namespace: str, port: int) -> dict[str, Any]:
    """The namespace's Gateway: one HTTP listener on `port`, the port of the
    controller's entry point, for routes of its own namespace."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Gateway",
        "metadata": {"name": GATEWAY_NAME},
        "spec": {
            "gatewayClassName": gateway_class_name(namespace),
            "listeners": [
                {
                    "name": LISTENER,
                    "protocol": "HTTP",
                    "port": port,
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            ],
        },
    }


def http_route_for(service: str, port: int) -> dict[str, Any]:
    """One HTTPRoute on the Gateway's listener, for any host: `/` and below to
    `service:port`."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HTTPRoute",
        "metadata": {"name": service},
        "spec": {
            "parentRefs": [{"name": GATEWAY_NAME, "sectionName": LISTENER}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service, "port": port}],
                }
            ],
        },
    }


_PLURALS = {"GatewayClass": "gatewayclasses", "Gateway": "gateways", "HTTPRoute": "httproutes"}


def create_custom(kube: Kube, namespace: str, doc: dict[str, Any]) -> None:
    """Create a Gateway API object (`Kube.apply` knows only built-in kinds): a
    GatewayClass cluster-wide, the others in `namespace`. ManifestRejectedError with the
    API server's message when it refuses one."""
    kind = str(doc["kind"])
    plural = _PLURALS[kind]
    try:
        if kind == "GatewayClass":
            kube.custom.create_cluster_custom_object(
                GROUP, VERSION, plural, doc, _request_timeout=REQUEST_TIMEOUT
            )
        else:
            kube.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, doc, _request_timeout=REQUEST_TIMEOUT
            )
    except ApiException as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            raise ManifestRejectedError(
                kind, str(doc["metadata"]["name"]), exc.status, api_message(exc)
            ) from exc
        raise


def _accepted(route: dict[str, Any] | None) -> tuple[str | None, str]:
    """("True"/"False"/None, message) of the Accepted condition the controller set on
    the route for the Gateway."""
    parents = ((route or {}).get("status") or {}).get("parents") or []
    for parent in parents:
        if (parent.get("parentRef") or {}).get("name") != GATEWAY_NAME:
            continue
        for c in parent.get("conditions") or []:
            if c.get("type") == "Accepted":
                return str(c.get("status")), f"{c.get('reason')}: {c.get('message')}"
    return None, "no status from the controller yet"


def route_accepted(kube: Kube, namespace: str, name: str) -> Condition[bool]:
    """The controller accepted HTTPRoute `name` on the Gateway (its status says so)."""
    last = ["not read yet"]

    def probe() -> bool | None:
        route = kube.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "httproutes", name, _request_timeout=REQUEST_TIMEOUT
        )
        status, message = _accepted(route)
        last[0] = f"Accepted={status}, {message}"
        return True if status == "True" else None

    return Condition(
        f"HTTPRoute {namespace}/{name} to be accepted on Gateway {GATEWAY_NAME}",
        probe,
        lambda: last[0],
        hint="the controller's log and the Gateway's status "
        f"(kubectl -n {namespace} get gateway {GATEWAY_NAME} -o yaml) say why",
    )
