"""Gateway API's CustomResourceDefinitions: which ones a Gateway controller needs, a
clear error when a cluster lacks them, and the installer of the test clusters.

Gateway API is not part of Kubernetes: its kinds exist in a cluster only once their
CRDs are installed. graceproof pins one release, the one Traefik v3.6.12 is built
with (its go.mod requires sigs.k8s.io/gateway-api v1.4.0, and its Gateway provider's
docs support that release); `hack/gateway-api.sh` makes the release's standard-channel
CRDs from its published Go module, one YAML file in the cache. graceproof never
installs them behind a user's back: `prove --gateway` refuses a cluster without them
and says how to install them; the e2e proofs install them (`install_crds`), once per
session, and say so in the log. They are cluster-wide and stay: like an image
loaded into the cluster, they are the cluster's, not a test's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from graceproof.errors import GraceproofError, ManifestRejectedError
from graceproof.kube import REQUEST_TIMEOUT, Kube, api_message
from graceproof.wait_loop import Condition

__all__ = [
    "GATEWAY_API_VERSION",
    "GROUP",
    "REQUIRED_CRDS",
    "STANDARD_INSTALL_URL",
    "GatewayApiMissingError",
    "check_crds",
    "crds_in",
    "install_crds",
    "missing_crds",
]

log = logging.getLogger(__name__)

# hack/versions.env pins the same (GATEWAY_API_VERSION).
GATEWAY_API_VERSION = "v1.4.0"
GROUP = "gateway.networking.k8s.io"
STANDARD_INSTALL_URL = (
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
    f"{GATEWAY_API_VERSION}/standard-install.yaml"
)
# Each CRD (its plural) with the version Traefik's Gateway provider reads it at
# (pkg/provider/kubernetes/gateway/client.go, WatchAll): it starts an informer for
# every one of them and routes nothing until all have synced, so one missing CRD, or
# an older release without that version (BackendTLSPolicy is v1 from v1.4.0), leaves
# the Gateway path dark with nothing but a line in Traefik's log.
REQUIRED_CRDS: dict[str, str] = {
    "gatewayclasses": "v1",
    "gateways": "v1",
    "httproutes": "v1",
    "grpcroutes": "v1",
    "referencegrants": "v1beta1",
    "backendtlspolicies": "v1",
}
_ESTABLISH_TIMEOUT_S = 60.0


class GatewayApiMissingError(GraceproofError):
    """The cluster lacks Gateway API CRDs (or the versions) a Gateway controller reads."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"the cluster lacks the Gateway API CRD(s) {'; '.join(missing)}. To fix: install "
            f"the standard channel of Gateway API {GATEWAY_API_VERSION}: `kubectl apply "
            f"--server-side -f $(hack/gateway-api.sh)` from a graceproof checkout (made from "
            f"the release's Go module), or `kubectl apply --server-side -f "
            f"{STANDARD_INSTALL_URL}`, with kubectl's --kubeconfig/--context pointing at the "
            "cluster graceproof proves on. A kind cluster that graceproof creates for the "
            "run has none, and is deleted at the end: create it with kind yourself "
            "(kind create cluster --config kind-config.yaml), apply them, and prove with "
            "--kubeconfig"
        )


def _crd_name(plural: str) -> str:
    return f"{plural}.{GROUP}"


def _read(kube: Kube, name: str) -> dict[str, Any] | None:
    """The CRD `name` as a dict, None if there is none. Read raw: the client's model of
    a CRD refuses some valid ones (a null `status.conditions` of a fresh one)."""
    try:
        raw = kube.extensions.read_custom_resource_definition(
            name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    crd: dict[str, Any] = json.loads(raw.data)
    return crd


def _established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _served(crd: Mapping[str, Any]) -> list[str]:
    return [str(v["name"]) for v in crd.get("spec", {}).get("versions", []) if v.get("served")]


def _problem(name: str, version: str, crd: Mapping[str, Any] | None) -> str | None:
    """What is wrong with CRD `name` for a reader of `version`, None if nothing."""
    if crd is None:
        return f"{name} (not installed)"
    served = _served(crd)
    if version not in served:
        bundle = (crd.get("metadata", {}).get("annotations") or {}).get(
            f"{GROUP}/bundle-version", "an unknown release"
        )
        return (
            f"{name} (serves {', '.join(served) or 'no version'}, not {version}: "
            f"it is from {bundle})"
        )
    if not _established(crd):
        return f"{name} (not Established yet)"
    return None


def missing_crds(kube: Kube) -> list[str]:
    """Each required CRD the cluster lacks, or has without the version read or not yet
    Established, with what is wrong; [] when all are there."""
    problems = []
    for plural, version in REQUIRED_CRDS.items():
        name = _crd_name(plural)
        problem = _problem(name, version, _read(kube, name))
        if problem is not None:
            problems.append(problem)
    return problems


def check_crds(kube: Kube) -> None:
    """GatewayApiMissingError unless every CRD a Gateway controller reads is there."""
    missing = missing_crds(kube)
    if missing:
        raise GatewayApiMissingError(missing)


def crds_in(path: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of a YAML file (hack/gateway-api.sh's)."""
    docs: Iterable[Any] = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]


def install_crds(kube: Kube, path: Path, *, timeout: float = _ESTABLISH_TIMEOUT_S) -> list[str]:
    """Create each CRD of `path` that the cluster lacks, wait (bounded) until they are
    Established, and return the names created. CRDs already there are left as they
    are, another release's too: `check_crds` then says what is missing. Logs what it
    installed, or that nothing was needed."""
    created = []
    for crd in crds_in(path):
        name = str(crd["metadata"]["name"])
        if _read(kube, name) is not None:
            continue
        try:
            # Created, not applied: the HTTPRoute CRD (344 kB) is larger than the
            # annotation client-side apply would keep. Raw: see _read.
            kube.extensions.create_custom_resource_definition(
                crd, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 409:  # created meanwhile (a parallel session)
                continue
            if exc.status is not None and 400 <= exc.status < 500:
                raise ManifestRejectedError(
                    "CustomResourceDefinition", name, exc.status, api_message(exc)
                ) from exc
            raise
        created.append(name)
    if not created:
        log.info("Gateway API CRDs already installed; %s not applied", path)
        return created
    log.warning(
        "installed Gateway API %s CRDs (standard channel) from %s: %s; they stay in the cluster",
        GATEWAY_API_VERSION,
        path,
        ", ".join(created),
    )
    _established_condition(kube, created).wait(timeout)
    return created


def _established_condition(kube: Kube, names: list[str]) -> Condition[bool]:
    pending = list(names)

    def probe() -> bool | None:
        pending[:] = [n for n in pending if not _established(_read(kube, n) or {})]
        return True if not pending else None

    return Condition(
        "the Gateway API CRDs to be Established",
        probe,
        lambda: f"not Established yet: {', '.join(pending)}",
        hint="the API server names a CRD it refuses in the CRD's status conditions",
    )
