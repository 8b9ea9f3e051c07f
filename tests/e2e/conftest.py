"""Fixtures of the e2e proofs (the nginx example's image is tests/conftest.py's
`nginx_image_args`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from graceproof.ingress import TRAEFIK_IMAGE, check_crds, install_crds
from graceproof.ingress.gateway_crds import missing_crds
from graceproof.ingress.traefik import TRAEFIK_DIGEST
from graceproof.kube import Kube
from graceproof.providers import ClusterProvider
from hack_builds import GATEWAY_API_CRDS, TRAEFIK, builds_archives

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def traefik_image(cluster: ClusterProvider, request: pytest.FixtureRequest) -> str:
    """Traefik built from the Go module proxy and loaded from its archive (hack/ingress.sh,
    run when the first test needs it: the local cluster, and kind on hack/docker.sh's
    engine), else the official release pinned by digest, which kind's nodes pull. The
    same image serves the Ingress and the Gateway proofs."""
    if builds_archives(cluster, TRAEFIK):
        cluster.load_image(TRAEFIK_IMAGE, Path(TRAEFIK.path(request)))
        return TRAEFIK_IMAGE
    return f"{TRAEFIK_IMAGE}@{TRAEFIK_DIGEST}"


@pytest.fixture(scope="session")
def gateway_api_crds(kube: Kube, request: pytest.FixtureRequest) -> None:
    """Gateway API's standard-channel CRDs in the cluster: those missing are created
    from hack/gateway-api.sh's file (made from the pinned release's Go module when the
    first test needs it, or GRACEPROOF_GATEWAY_API_CRDS), which the log says. They stay:
    they are the cluster's, like its images. A cluster with another release's CRDs
    fails here, naming what is missing."""
    if missing_crds(kube):
        install_crds(kube, Path(GATEWAY_API_CRDS.path(request)))
    check_crds(kube)


@pytest.fixture
def nodes(kube: Kube) -> list[str]:
    """The cluster's schedulable nodes: two at least. `make test` and `make e2e` bring
    the local cluster up with NODES (2) and say so here, so a missing node fails;
    elsewhere (a one-node cluster of the user's) these proofs are skipped, and
    pytest reports them as skipped."""
    names = sorted(n.metadata.name for n in kube.core.list_node().items if _schedulable(n))
    if len(names) >= 2:
        return names
    wanted = int(os.environ.get("NODES", "0") or 0)
    message = f"these proofs need 2 schedulable nodes; the cluster has {names}"
    if wanted >= 2:
        pytest.fail(f"{message}, though NODES={wanted} (hack/local-cluster.sh up --nodes 2)")
    pytest.skip(message)


def _schedulable(node: Any) -> bool:
    """Not cordoned, and no taint that keeps the sample app away (kind's control plane)."""
    taints = node.spec.taints or []
    return not node.spec.unschedulable and not any(
        t.effect in ("NoSchedule", "NoExecute") for t in taints
    )
