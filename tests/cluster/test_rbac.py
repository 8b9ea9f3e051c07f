"""Least privilege: `graceproof prove` on a cluster where it runs as a ServiceAccount
bound to docs/rbac.yaml's ClusterRole and nothing else, as on a team's shared cluster.

The local cluster's API server authorises with RBAC, so a rule missing from the file
fails this proof with the API server's 403 (forbidden), naming the resource.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from graceproof.kube import Kube
from graceproof.namespaces import RUN_ID_LABEL, release, test_namespace

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "docs" / "rbac.yaml"
PROOF_TIMEOUT = 600


@pytest.fixture
def service_account_kubeconfig(cluster: Any, kube: Kube, tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig of a ServiceAccount bound to docs/rbac.yaml's ClusterRole (made
    under a name of its own, removed after), with a short-lived token."""
    suffix = secrets.token_hex(3)
    ns, role = f"gp-rbac-{suffix}", f"graceproof-test-{suffix}"
    (cluster_role,) = list(yaml.safe_load_all(RBAC.read_text()))
    cluster_role["metadata"]["name"] = role
    rbac = kube.api_client
    from kubernetes.client import CoreV1Api, RbacAuthorizationV1Api

    core, auth = CoreV1Api(rbac), RbacAuthorizationV1Api(rbac)
    core.create_namespace({"metadata": {"name": ns}})
    try:
        core.create_namespaced_service_account(ns, {"metadata": {"name": "graceproof"}})
        auth.create_cluster_role(cluster_role)
        auth.create_cluster_role_binding(
            {
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": "graceproof", "namespace": ns}],
            }
        )  # fmt: skip
        token = core.create_namespaced_service_account_token(
            "graceproof", ns, {"spec": {"expirationSeconds": 3600}}
        ).status.token
        admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
        context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
        server = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
        path = tmp_path / "graceproof-sa.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "cluster", "cluster": server["cluster"]}],
                    "users": [{"name": "graceproof", "user": {"token": token}}],
                    "contexts": [
                        {"name": "sa", "context": {"cluster": "cluster", "user": "graceproof"}}
                    ],
                    "current-context": "sa",
                }
            ),
            encoding="utf-8",
        )
        yield path
    finally:
        for delete in (
            lambda: auth.delete_cluster_role_binding(role),
            lambda: auth.delete_cluster_role(role),
            lambda: core.delete_namespace(ns),
        ):
            try:
                delete()
            except ApiException as exc:
                if exc.status != 404:
                    raise


def test_the_documented_rules_are_enough_to_prove_a_workload_with_its_control(
    service_account_kubeconfig: Path, kube: Kube, tmp_path: Path, free_node_port: int
) -> None:
    # Itself bound by those rules: it cannot read a Secret of kube-system.
    sa = Kube.from_kubeconfig(service_account_kubeconfig)
    with pytest.raises(ApiException) as denied:
        sa.core.list_namespaced_secret("kube-system")
    assert denied.value.status == 403
    reports = tmp_path / "reports"
    manifest = ROOT / "workloads" / "manifests" / "prestop-exec.yaml"
    run_id = "rbac" + secrets.token_hex(3)
    proc = subprocess.run(
        [sys.executable, "-m", "graceproof.cli", "prove", "-f", str(manifest),
         "--kubeconfig", str(service_account_kubeconfig), "-o", "json", "--run-id", run_id,
         "--report-dir", str(reports), "--node-port", str(free_node_port)],
        capture_output=True, text=True, timeout=PROOF_TIMEOUT, check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    verdict = json.loads(proc.stdout)
    assert verdict["proven"] is True, verdict
    assert verdict["control"]["counts"]["failed_in_windows"] > 0, verdict["control"]
    # What it made, it could remove: its namespaces are gone or going.
    left = kube.core.list_namespace(label_selector=f"{RUN_ID_LABEL}={run_id}").items
    assert all(ns.metadata.deletion_timestamp for ns in left), [n.metadata.name for n in left]


def test_the_documented_rules_let_a_control_be_attempted_again(
    service_account_kubeconfig: Path, kube: Kube, free_node_port: int
) -> None:
    """A negative control attempted again (graceproof.controls) first empties the
    namespace of the attempt before: its workload, Services and pods, by collection."""
    sa = Kube.from_kubeconfig(service_account_kubeconfig)
    docs = list(yaml.safe_load_all((ROOT / "workloads" / "manifests" / "no-hook.yaml").read_text()))
    for d in docs:
        for port in (d.get("spec") or {}).get("ports") or []:
            port["nodePort"] = free_node_port
    run_id = "rbac" + secrets.token_hex(3)
    with test_namespace(sa, run_id, "release", lambda: False) as ns:
        sa.apply(docs, ns)
        release(sa, ns)
        assert sa.apps.list_namespaced_deployment(ns).items == []
        assert sa.core.list_namespaced_service(ns).items == []
