"""The in-cluster load under a fault of its own: a Locust worker pod killed mid-run.

Its records since its last batch to the master die with it, so the run cannot count
every request it sent: the load must fail, naming the worker and how many records it
lost, and leave nothing running (issue: "the harness under faults")."""

from __future__ import annotations

from pathlib import Path

import pytest

from graceproof.errors import LoadError
from graceproof.hooks import NoHook
from graceproof.kube import Kube
from graceproof.load import LoadSettings
from graceproof.load.cluster_run import ClusterLoadRun
from graceproof.placement import InCluster, LoadContext
from graceproof.workloads import SampleApp
from graceproof.workloads.base import DeployContext

pytestmark = pytest.mark.cluster

LOAD_PODS = "app.kubernetes.io/name=graceproof-load"


def test_a_worker_killed_mid_run_fails_the_load_naming_it_and_its_lost_records(
    kube: Kube, namespace: str, workload_image: str, load_image: str, tmp_path: Path
) -> None:
    app = SampleApp(NoHook(), replicas=1, node_port=None)
    target = app.deploy(DeployContext(kube, namespace, workload_image))
    ctx = LoadContext(
        kube, namespace, target, LoadSettings(users=4), 20, records_path=tmp_path / "r.jsonl"
    )
    run = ClusterLoadRun(InCluster(workers=2, image=load_image), ctx)
    victim = run.workers[1]
    with run:
        run.wait_for_records(100, timeout_s=120)
        # Killed, as a node's OOM killer or an eviction would: no time to send its
        # last batch, nor to say it was done.
        kube.core.delete_namespaced_pod(victim, namespace, grace_period_seconds=0)
        with pytest.raises(LoadError) as info:
            run.wait()
    text = str(info.value)
    assert "lost" in text and victim in text, text
    assert run.workers[0] not in text.split("done:")[1], text  # the survivor said done
    # What was recorded is kept for the reader, with the survivor's records in it.
    kept = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(kept) >= 100, len(kept)
    # Nothing of the load is left running.
    pods = kube.core.list_namespaced_pod(namespace, label_selector=LOAD_PODS).items
    assert all(p.metadata.deletion_timestamp for p in pods), [p.metadata.name for p in pods]
