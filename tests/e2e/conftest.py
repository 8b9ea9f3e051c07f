"""Fixtures of the e2e proofs (the nginx example's image is tests/conftest.py's
`nginx_image_args`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from graceproof.kube import Kube

ROOT = Path(__file__).resolve().parents[2]


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
