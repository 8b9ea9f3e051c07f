"""A team's own workload, proven on the cluster: nginx from Debian's packages (examples/
nginx) as plain manifests, a kustomize overlay and a Helm chart, each with its derived
negative control; and the bad input that only the cluster can reveal (an image that
is not there, a port that refuses), each refused before any load, leaving nothing."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.cli import main
from graceproof.disruptions import DeleteOneByOne
from graceproof.kube import Kube
from graceproof.namespaces import RUN_ID_LABEL
from graceproof.plan import plan_of
from graceproof.providers import ClusterProvider
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.sources import HelmChart, Kustomization, ManifestFiles, ManifestSource
from graceproof.workloads.base import NODE_PORTS
from graceproof.workloads.manifests import ManifestWorkload

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NGINX = ROOT / "examples" / "nginx"


@pytest.fixture
def nginx_image(nginx_image_args: list[str]) -> None:
    """The example's image in the cluster (tests/e2e/conftest.py)."""


def _check_pair(hooked: ScenarioResult, control: ScenarioResult) -> None:
    for r in (hooked, control):
        assert r.counts.in_windows > 0, f"{r.scenario_id}: no request inside a window"
        assert r.verdict.passed, r.verdict.message
    assert hooked.counts.failed == 0
    assert control.counts.failed_in_windows > 0
    assert control.variant.endswith("-no-hook")
    print(
        f"{hooked.scenario_id}: {hooked.counts.total} requests, {hooked.counts.in_windows} in "
        f"windows, 0 failed, bound {hooked.stats['overall'].describe()}; control "
        f"{control.counts.failed} of {control.counts.total} failed "
        f"({control.counts.failed_in_windows} of {control.counts.in_windows} in windows; "
        f"{dict(control.counts.error_kinds)})"
    )


@pytest.mark.parametrize(
    ("source", "node_port"),
    [
        (ManifestFiles((NGINX / "manifests",)), 30080),
        (Kustomization(NGINX / "kustomize" / "overlays" / "prod"), 30081),
        (HelmChart(NGINX / "chart"), 30082),
    ],  # the control runs on node_port + 5 while the hooked run's namespace exists
    ids=["manifests", "kustomize", "helm"],
)
def test_nginx_keeps_every_request_with_its_hook_and_loses_some_without(
    prove: Prove,
    nginx_image: None,
    source: ManifestSource,
    node_port: int,
    request: pytest.FixtureRequest,
) -> None:
    if isinstance(source, HelmChart):
        request.getfixturevalue("helm")  # built when the first chart comes
    workload = ManifestWorkload.load(source, node_port=node_port)
    assert workload.resolved.hooks == 1
    control = prove(Scenario(workload.without_hooks(node_port=node_port + 5)))
    hooked = prove(Scenario(workload))
    _check_pair(hooked, control)


def _edited_nginx(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The plain example, each object passed through `edit`, written to tmp_path."""
    docs = [d.body for d in ManifestFiles((NGINX / "manifests",)).render()]
    for body in docs:
        edit(body)
    path = tmp_path / "nginx.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def _containers(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body["kind"] != "Deployment":
        return []
    containers: list[dict[str, Any]] = body["spec"]["template"]["spec"]["containers"]
    return containers


def _run_ids_left(kube: Kube, run_id: str) -> list[str]:
    items = kube.core.list_namespace(label_selector=f"{RUN_ID_LABEL}={run_id}").items
    return [ns.metadata.name for ns in items]


def _prove_cli(tmp_path: Path, cluster: ClusterProvider, manifest: Path, run_id: str) -> int:
    return main(
        ["prove", "-f", str(manifest), "--kubeconfig", str(cluster.kubeconfig),
         "--run-id", run_id, "--report-dir", str(tmp_path / "reports"), "--node-port", "30083"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "reasons"),
    [
        ("Never", ("ErrImageNeverPull",)),
        ("Always", ("ErrImagePull", "ImagePullBackOff")),
    ],
)
def test_a_missing_image_is_named_with_its_reason_and_nothing_is_left(
    tmp_path: Path,
    cluster: ClusterProvider,
    kube: Kube,
    capsys: pytest.CaptureFixture[str],
    policy: str,
    reasons: tuple[str, ...],
) -> None:
    missing = "graceproof/not-there:0.0.1"

    def edit(body: dict[str, Any]) -> None:
        for c in _containers(body):
            c["image"], c["imagePullPolicy"] = missing, policy

    run_id = "m" + secrets.token_hex(3)
    code = _prove_cli(tmp_path, cluster, _edited_nginx(tmp_path, edit), run_id)
    out = capsys.readouterr()
    assert code == 2, out.err
    assert missing in out.err and any(reason in out.err for reason in reasons), out.err
    assert "PROVEN" not in out.out  # refused before any load: no verdict at all
    assert _run_ids_left(kube, run_id) == []


def test_a_target_port_that_refuses_connections_is_named(
    tmp_path: Path,
    cluster: ClusterProvider,
    kube: Kube,
    nginx_image: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The container declares an `admin` port 8081 and the Service sends there, so the
    # manifests pass every static check; nginx does not listen on it.
    def edit(body: dict[str, Any]) -> None:
        for c in _containers(body):
            c["ports"].append({"name": "admin", "containerPort": 8081})
        if body["kind"] == "Service":
            body["spec"]["ports"][0]["targetPort"] = "admin"

    run_id = "p" + secrets.token_hex(3)
    code = _prove_cli(tmp_path, cluster, _edited_nginx(tmp_path, edit), run_id)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "refused on port 8081" in err, err
    assert _run_ids_left(kube, run_id) == []


# A chart's test pod and a stray pod, both with the workload's selector labels and an
# image no node has (the test pod's `:latest`, so always pulled): neither is the
# workload's. `helm template` output saved as files keeps the test pod (only
# `--skip-tests`, which graceproof passes for a chart, drops it).
_FOREIGN_PODS = """\
apiVersion: v1
kind: Pod
metadata:
  name: web-connection-test
  labels: {app.kubernetes.io/name: web}
  annotations: {helm.sh/hook: test}
spec:
  restartPolicy: Never
  containers:
    - {name: probe, image: "graceproof/not-there:latest", command: [wget, -qO-, web]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-debug
  labels: {app.kubernetes.io/name: web}
spec:
  containers:
    - {name: shell, image: "graceproof/not-there:0.0.1", imagePullPolicy: Never}
"""


def test_rendered_chart_with_labelled_test_and_stray_pods_is_proven_on_its_own_pods(
    prove: Prove, nginx_image: None, tmp_path: Path, helm: str
) -> None:
    rendered = [d.body for d in HelmChart(NGINX / "chart").render()]
    path = tmp_path / "web.yaml"
    path.write_text(yaml.safe_dump_all(rendered) + "---\n" + _FOREIGN_PODS, encoding="utf-8")
    workload = ManifestWorkload.load(ManifestFiles((path,)), node_port=30084)
    (left_out,) = workload.resolved.left_out
    assert left_out.startswith("pod/web-connection-test"), left_out
    plan = plan_of(workload.resolved, disruption=DeleteOneByOne()).lines
    assert f"left out: {left_out}" in plan
    # The stray pod is applied (helm install would make it) and stays in
    # ErrImageNeverPull; only the pods whose owner chain leads to deployment/web are
    # waited for, deleted and judged.
    assert "pod/web-debug" in {d.ref for d in workload.resolved.docs}
    result = prove(Scenario(workload))
    assert result.verdict.passed, result.verdict.message
    assert result.counts.failed == 0 and result.counts.in_windows > 0
    deleted = {w.pod for w in result.windows}
    assert len(deleted) == 3 and "web-debug" not in deleted, deleted


def test_a_base_with_an_hpa_and_no_replicas_is_proven_at_its_live_count(
    prove: Prove, nginx_image: None, tmp_path: Path
) -> None:
    # As many public bases ship: the Deployment leaves `replicas` to its HPA, which
    # raises the 1 the Deployment starts with to minReplicas at its next sync.
    def edit(body: dict[str, Any]) -> None:
        if body["kind"] == "Deployment":
            body["spec"].pop("replicas", None)

    path = _edited_nginx(tmp_path, edit)
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 4,
        },
    }
    path.write_text(path.read_text() + "---\n" + yaml.safe_dump(hpa), encoding="utf-8")
    workload = ManifestWorkload.load(ManifestFiles((path,)), node_port=30084)
    assert workload.resolved.min_replicas() == 2
    plan = plan_of(workload.resolved, disruption=DeleteOneByOne()).lines
    assert (
        "replicas: not set (1); horizontalpodautoscaler/web scales it from 2 to 4 (the "
        "proof disrupts the live count)" in plan
    )
    result = prove(Scenario(workload))
    assert result.verdict.passed, result.verdict.message
    assert result.parameters["workload"]["hpa"] == {
        "ref": "horizontalpodautoscaler/web",
        "min": 2,
        "max": 4,
    }
    assert result.parameters["workload"]["pdb"] == ["poddisruptionbudget/web"]
    target = dict(result.parameters["target"])
    assert target.pop("node_port") in NODE_PORTS
    assert target == {"ref": "deployment/web", "replicas": 2, "grace_seconds": 30}
    assert len(result.windows) == 2  # both live replicas disrupted, one by one
