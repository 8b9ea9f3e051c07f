"""A team's manifests checked before anything touches the cluster, and what they name.

`resolve` refuses what graceproof cannot prove in a test namespace, naming the object,
the field and the fix (WorkloadSpecError):

- every object goes into the test's namespace; cluster-scoped objects are refused;
- the target is the one Deployment or StatefulSet (or the one named), and the Service
  in front of it is the one whose selector picks its pods (or the one named);
- the Service's targetPort must be a port a container of those pods exposes;
- Helm hooks `helm install` does not run are left out, as it leaves them out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import kubernetes.client

from graceproof.controllers import KINDS
from graceproof.errors import WorkloadSpecError
from graceproof.sources import Doc

__all__ = [
    "CLUSTER_SCOPED",
    "Resolved",
    "container_ports",
    "grace_seconds",
    "hpa_bounds",
    "pod_template",
    "resolve",
]

log = logging.getLogger("graceproof.workloads.manifests")  # where "left out" lines always went

# Kinds that exist outside any namespace: graceproof creates nothing it cannot delete
# with the test's namespace.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


@dataclass(frozen=True)
class Resolved:
    """What the checks found: the objects to apply and what to disrupt and load."""

    docs: tuple[Doc, ...]
    workload: Doc
    service: Doc
    service_port: dict[str, Any]
    target_port: int | str
    hooks: int  # preStop hooks in the workload's containers
    # Objects of the manifests graceproof does not apply, each with why (`ref: reason`).
    left_out: tuple[str, ...] = ()

    @property
    def hpa(self) -> Doc | None:
        """The HorizontalPodAutoscaler whose scaleTargetRef is the workload, if any."""
        for d in self.docs:
            ref = (d.body.get("spec") or {}).get("scaleTargetRef") or {}
            if (
                d.kind == "HorizontalPodAutoscaler"
                and ref.get("kind") == self.workload.kind
                and ref.get("name") == self.workload.name
            ):
                return d
        return None

    def min_replicas(self) -> int:
        """The replicas the workload runs once applied: spec.replicas (1 when unset),
        brought into its HPA's [minReplicas, maxReplicas] when it has one (the HPA does
        that at its first sync, without any metric)."""
        declared = (self.workload.body.get("spec") or {}).get("replicas")
        count = int(declared) if declared is not None else 1
        if self.hpa is not None:
            spec = self.hpa.body.get("spec") or {}
            low = int(spec.get("minReplicas") or 1)
            high = int(spec.get("maxReplicas") or max(low, count))
            count = min(max(count, low), high)
        return count


def hpa_bounds(hpa: Doc) -> dict[str, Any]:
    spec = hpa.body.get("spec") or {}
    return {"ref": hpa.ref, "min": spec.get("minReplicas", 1), "max": spec.get("maxReplicas")}


def grace_seconds(pod_spec: dict[str, Any]) -> int:
    """terminationGracePeriodSeconds, 30 when unset or null (as Helm output may have)."""
    value = pod_spec.get("terminationGracePeriodSeconds")
    return int(value) if value is not None else 30


def pod_template(doc: Doc) -> dict[str, Any]:
    template: dict[str, Any] = (doc.body.get("spec") or {}).get("template") or {}
    return template


def _pod_labels(doc: Doc) -> dict[str, str]:
    return dict((pod_template(doc).get("metadata") or {}).get("labels") or {})


def _containers(doc: Doc) -> list[dict[str, Any]]:
    return list((pod_template(doc).get("spec") or {}).get("containers") or [])


def _namespaced_create(doc: Doc) -> bool:
    """Whether the kubernetes client can create `doc` in a namespace, looked up as
    kube.apply (kubernetes.utils.create_from_yaml) looks it up: false for
    cluster-scoped kinds and for kinds it does not know (custom resources), which
    graceproof could not confine to the test's namespace."""
    group, _, version = str(doc.body.get("apiVersion", "")).partition("/")
    if not version:
        group, version = "core", group
    group = "".join(group.rsplit(".k8s.io", 1))
    prefix = "".join(word.capitalize() for word in group.split("."))
    api = getattr(kubernetes.client, f"{prefix}{version.capitalize()}Api", None)
    kind = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", doc.kind)
    kind = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", kind).lower()
    return api is not None and hasattr(api, f"create_namespaced_{kind}")


def _check_scope(docs: list[Doc]) -> None:
    refused = [
        f"{d.ref} ({d.origin})"
        for d in docs
        if d.kind in CLUSTER_SCOPED or not _namespaced_create(d)
    ]
    if refused:
        raise WorkloadSpecError(
            "cluster-scoped objects and kinds graceproof cannot create in a namespace "
            "(custom resources) are refused (graceproof applies everything into the "
            "test's namespace and deletes it afterwards): "
            + ", ".join(refused)
            + ". Leave them out of the input (install them once, outside the proof)."
        )


def _check_selector(workload: Doc) -> None:
    selector = (workload.body.get("spec") or {}).get("selector") or {}
    if not selector.get("matchLabels") or selector.get("matchExpressions"):
        raise WorkloadSpecError(
            f"{workload.ref} ({workload.origin}): spec.selector must be matchLabels only: "
            "graceproof disrupts exactly the pods those labels select"
        )


def _pick_workload(docs: list[Doc], named: str | None) -> Doc:
    candidates = [d for d in docs if d.kind in KINDS]  # graceproof.controllers
    found = ", ".join(d.ref for d in candidates) or "none"
    if named is not None:
        for d in candidates:
            if d.ref == named.lower() or d.name == named:
                return d
        raise WorkloadSpecError(
            f"--target {named}: no such Deployment or StatefulSet in the input (found: {found})"
        )
    if not candidates:
        kinds = sorted({d.kind for d in docs}) or ["nothing"]
        raise WorkloadSpecError(
            f"no Deployment or StatefulSet in the input (found {', '.join(kinds)}): "
            "graceproof needs a workload whose pods it can terminate"
        )
    if len(candidates) > 1:
        raise WorkloadSpecError(
            f"several workloads in the input ({found}): name the one to disrupt with "
            f"--target, e.g. --target {candidates[0].ref}"
        )
    return candidates[0]


def _selects(service: Doc, labels: dict[str, str]) -> bool:
    selector = (service.body.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pick_service(docs: list[Doc], workload: Doc, named: str | None) -> tuple[Doc, str | None]:
    labels = _pod_labels(workload)
    services = [d for d in docs if d.kind == "Service"]
    if named is not None:
        name, _, port = named.partition(":")
        name = name.removeprefix("service/")
        for s in services:
            if s.name == name:
                if not _selects(s, labels):
                    selector = (s.body.get("spec") or {}).get("selector") or {}
                    raise WorkloadSpecError(
                        f"service/{name} ({s.origin}): its selector {selector} matches no pod "
                        f"of {workload.ref}, whose pods are labelled {labels}"
                    )
                return s, port or None
        found = ", ".join(s.ref for s in services) or "none"
        raise WorkloadSpecError(f"--service {named}: no such Service in the input ({found})")
    matching = [s for s in services if _selects(s, labels)]
    if len(matching) == 1:
        return matching[0], None
    if not matching:
        raise WorkloadSpecError(
            f"no Service in the input selects the pods of {workload.ref} (labels {labels}): "
            "add the Service in front of it, or name one with --service NAME[:PORT]"
        )
    raise WorkloadSpecError(
        f"several Services select the pods of {workload.ref} "
        f"({', '.join(s.ref for s in matching)}): name one with --service NAME[:PORT]"
    )


def _pick_port(service: Doc, wanted: str | None) -> dict[str, Any]:
    ports: list[dict[str, Any]] = list((service.body.get("spec") or {}).get("ports") or [])
    names = ", ".join(f"{p.get('name', '')}:{p.get('port')}" for p in ports) or "none"
    if wanted is not None:
        for p in ports:
            if str(p.get("name")) == wanted or str(p.get("port")) == wanted:
                return p
        raise WorkloadSpecError(f"{service.ref} has no port {wanted!r} (ports: {names})")
    if len(ports) != 1:
        raise WorkloadSpecError(
            f"{service.ref} has {len(ports)} ports ({names}): name one with "
            f"--service {service.name}:PORT"
        )
    return ports[0]


def container_ports(workload: Doc) -> list[tuple[str, str | None, int]]:
    return [
        (str(c.get("name")), p.get("name"), int(p["containerPort"]))
        for c in _containers(workload)
        for p in c.get("ports") or []
        if "containerPort" in p
    ]


def _check_target_port(service: Doc, port: dict[str, Any], workload: Doc) -> int | str:
    target: int | str = port.get("targetPort") or port["port"]
    exposed = container_ports(workload)
    listing = (
        ", ".join(f"{c}: {n + ' ' if n else ''}{num}" for c, n, num in exposed) or "none declared"
    )
    if isinstance(target, str) and not target.isdigit():
        if not any(n == target for _, n, _ in exposed):
            raise WorkloadSpecError(
                f"{service.ref} port {port.get('name') or port.get('port')}: targetPort "
                f"{target!r} is not a named port of any container of {workload.ref} "
                f"(container ports: {listing})"
            )
        return target
    number = int(target)
    if exposed and not any(num == number for _, _, num in exposed):
        raise WorkloadSpecError(
            f"{service.ref} port {port.get('name') or port.get('port')}: targetPort {number} "
            f"is not exposed by any container of {workload.ref} (container ports: {listing})"
        )
    return number


# Helm's hooks, as `helm install` treats them (graceproof renders with `helm template`,
# which writes every hook out as a plain object):
# - test hooks: never created by an install (`helm test` does, later). They often carry
#   the chart's selector labels and images of their own; applied, they would be taken
#   for the workload's pods. Left out.
# - hooks of other events only (pre-/post-delete, -upgrade, -rollback): not run by an
#   install. Left out.
# - pre-install and post-install hooks: run by an install, so applied with the rest,
#   in their order; graceproof does not wait for a hook Job to finish as helm does, and
#   deletes them with the namespace whatever their hook-delete-policy.
HELM_HOOK = "helm.sh/hook"
HELM_TEST_HOOKS = frozenset({"test", "test-success", "test-failure"})
HELM_INSTALL_HOOKS = frozenset({"pre-install", "post-install"})


def _helm_hooks(doc: Doc) -> set[str]:
    value = str(((doc.body.get("metadata") or {}).get("annotations") or {}).get(HELM_HOOK, ""))
    return {h.strip() for h in value.split(",") if h.strip()}


def _not_installed(doc: Doc) -> str | None:
    """Why `helm install` would not create `doc` (a hook it does not run), or None."""
    hooks = _helm_hooks(doc)
    if not hooks or hooks & HELM_INSTALL_HOOKS:
        return None
    if hooks & HELM_TEST_HOOKS:
        return f"{HELM_HOOK}: test, which `helm install` does not create"
    return (
        f"{HELM_HOOK}: {', '.join(sorted(hooks))}, which `helm install` does not run "
        "(delete, upgrade or rollback do)"
    )


def resolve(docs: list[Doc], target: str | None = None, service: str | None = None) -> Resolved:
    """Check the manifests and find what to disrupt and load (WorkloadSpecError naming
    the object, the field and the fix otherwise). Helm hooks `helm install` does not
    run (tests, delete, upgrade, rollback) are left out, as it leaves them out."""
    left_out = tuple(f"{d.ref} ({d.origin}): {why}" for d in docs if (why := _not_installed(d)))
    docs = [d for d in docs if _not_installed(d) is None]
    for line in left_out:
        log.info("left out %s", line)
    _check_scope(docs)
    workload = _pick_workload(docs, target)
    _check_selector(workload)
    svc, port_name = _pick_service(docs, workload, service)
    port = _pick_port(svc, port_name)
    hooks = sum(1 for c in _containers(workload) if (c.get("lifecycle") or {}).get("preStop"))
    return Resolved(
        docs=tuple(docs),
        workload=workload,
        service=svc,
        service_port=port,
        target_port=_check_target_port(svc, port, workload),
        hooks=hooks,
        left_out=left_out,
    )
