"""Fixtures of the e2e proofs that deploy the nginx example (examples/nginx)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from graceproof.cli_prove_inputs import archive_tags
from graceproof.config import read_env_file
from graceproof.kube import Kube
from graceproof.providers import ClusterProvider
from hack_builds import EXAMPLE_NGINX, builds_archives

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def nginx_image_args(cluster: ClusterProvider, request: pytest.FixtureRequest) -> list[str]:
    """The example's image loaded into the cluster, and the `graceproof prove` flags that
    load it again: from the archive examples/nginx/image.sh makes (the local cluster, and
    kind on hack/docker.sh's engine; built when the first test needs it), else by name
    (kind on the user's Docker: `make e2e` builds it with docker)."""
    if builds_archives(cluster, EXAMPLE_NGINX):
        archive = EXAMPLE_NGINX.path(request)
        for tag in archive_tags(Path(archive)):
            cluster.load_image(tag, Path(archive))
        return ["--image-archive", archive]
    ref = read_env_file(ROOT / "hack" / "versions.env")["EXAMPLE_NGINX_IMAGE"]
    cluster.load_image(ref)
    return ["--image", ref]


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
