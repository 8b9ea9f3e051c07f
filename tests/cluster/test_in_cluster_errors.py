"""Bad input for the in-cluster load, each named with its object, its field and the fix:
an image the nodes cannot have, workers that never reach the master, a Service with no
endpoint, a namespace quota that refuses the load's pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graceproof.errors import ImageNotAvailableError, LoadError, WorkloadSpecError
from graceproof.hooks import NoHook
from graceproof.kube import Kube
from graceproof.load import LoadSettings, LocustCrashed
from graceproof.load.cluster_run import ClusterLoadRun
from graceproof.placement import InCluster, LoadContext
from graceproof.workloads import SampleApp
from graceproof.workloads.base import DeployContext, Target

pytestmark = pytest.mark.cluster


def _deployed(kube: Kube, namespace: str, image: str) -> Target:
    app = SampleApp(NoHook(), replicas=1, node_port=None)
    return app.deploy(DeployContext(kube, namespace, image))


def _ctx(kube: Kube, namespace: str, target: Target, tmp_path: Path) -> LoadContext:
    return LoadContext(
        kube, namespace, target, LoadSettings(users=2), 30, records_path=tmp_path / "r.jsonl"
    )


def test_an_image_the_nodes_cannot_have_is_named_with_its_reason(
    kube: Kube, namespace: str, workload_image: str, tmp_path: Path
) -> None:
    target = _deployed(kube, namespace, workload_image)
    placement = InCluster(workers=1, image="graceproof/no-such-load:0.0.0", start_timeout_s=60)
    run = ClusterLoadRun(placement, _ctx(kube, namespace, target, tmp_path))
    with pytest.raises(ImageNotAvailableError) as info, run:
        pass
    text = str(info.value)
    assert "graceproof/no-such-load:0.0.0" in text and "gp-load-master" in text
    assert "ErrImage" in text or "ImagePullBackOff" in text, text
    # Nothing of the load is left behind.
    assert not kube.core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/name=graceproof-load"
    ).items


def test_workers_that_never_reach_the_master_stop_the_wait_with_its_log(
    kube: Kube,
    namespace: str,
    workload_image: str,
    load_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = _deployed(kube, namespace, workload_image)
    original = ClusterLoadRun._worker_command

    def unreachable(self: ClusterLoadRun, master_ip: str) -> list[str]:
        # A fault injected: the workers knock on a port the master does not listen on.
        command = original(self, master_ip)
        command[command.index("--master-port") + 1] = "5999"
        return command

    monkeypatch.setattr(ClusterLoadRun, "_worker_command", unreachable)
    placement = InCluster(workers=1, image=load_image, start_timeout_s=10)
    run = ClusterLoadRun(placement, _ctx(kube, namespace, target, tmp_path))
    with run, pytest.raises(LocustCrashed) as info:
        run.wait_for_records(1, timeout_s=90)
    assert "Gave up waiting for workers to connect" in str(info.value), info.value


def test_a_service_without_endpoints_is_refused_before_any_load(
    kube: Kube, namespace: str, load_image: str, tmp_path: Path
) -> None:
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "empty"},
        "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 8080, "name": "http"}]},
    }
    kube.apply([service], namespace)
    target = Target("Deployment", "web", "app=nothing", "empty", 0, 1, 30, pod_port=8080)
    placement = InCluster(workers=1, image=load_image)
    run = ClusterLoadRun(placement, _ctx(kube, namespace, target, tmp_path))
    with pytest.raises(WorkloadSpecError, match=r"service/empty has no ready endpoint"), run:
        pass


def test_a_quota_that_refuses_the_load_pods_is_named(
    kube: Kube, namespace: str, workload_image: str, load_image: str, tmp_path: Path
) -> None:
    target = _deployed(kube, namespace, workload_image)
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "two-pods"},
        "spec": {"hard": {"pods": "1"}},
    }
    kube.apply([quota], namespace)
    placement = InCluster(workers=1, image=load_image)
    run = ClusterLoadRun(placement, _ctx(kube, namespace, target, tmp_path))
    with (
        pytest.raises(LoadError, match=r"quota refused the load's pod gp-load-master") as info,
        run,
    ):
        pass
    assert "Raise the ResourceQuota" in str(info.value)
