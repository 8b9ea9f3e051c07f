"""The in-cluster load's pure parts: its pods, its checks, and how the master's records
come back onto the host's clock with their completeness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graceproof.errors import WorkloadSpecError
from graceproof.hooks import SleepHook
from graceproof.load import LoadSettings
from graceproof.load.cluster import OFFICIAL_LOCUST_IMAGE
from graceproof.load.cluster_clock import ClockReading
from graceproof.load.cluster_pods import LOAD_LABELS, selector_pairs
from graceproof.load.cluster_run import ClusterLoadRun
from graceproof.placement import InCluster, LoadContext, OnHost
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp
from graceproof.workloads.base import Target

TARGET = Target("Deployment", "web", "app=web", "web", 0, 2, 30, pod_port=8080)


class FakeKube:
    """Only `exec`, answering from a table of the master's files (pure logic: no API)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def exec(self, namespace: str, pod: str, container: str, command: list[str], **_: Any) -> str:
        script = command[-1]
        for name, text in self.files.items():
            if f"/gp/{name}" in script:
                return text
        return ""


def _run(tmp_path: Path, kube: Any = None, **kw: Any) -> ClusterLoadRun:
    settings = kw.pop("settings", LoadSettings(users=4))
    ctx = LoadContext(kube, "ns", TARGET, settings, 30, tmp_path / "r.jsonl", **kw)
    return InCluster(workers=2, image="graceproof/load:0.1.0").runner(ctx)


def test_the_load_pods_are_labelled_bounded_and_kept_off_the_drained_node(tmp_path: Path) -> None:
    run = _run(tmp_path, avoid_nodes=("node-2",))
    run.address, run.port = "10.96.0.10", 8080
    pod = run._pod("gp-load-worker-0", "worker", run._worker_command("10.88.0.5"))
    spec = pod["spec"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "graceproof-load"
    container = spec["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["node-2"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GRACEPROOF_TARGET_ADDRESS"] == "10.96.0.10" and env["GRACEPROOF_RELAY"] == "1"
    assert (
        env["GRACEPROOF_SOURCE_PORTS"] == "kernel" and env["GRACEPROOF_POD"] == "gp-load-worker-0"
    )
    assert "--master-host" in container["command"] and "10.88.0.5" in container["command"]


def test_a_target_whose_selector_matches_the_load_pods_is_refused(tmp_path: Path) -> None:
    selector = ",".join(f"{k}={v}" for k, v in LOAD_LABELS.items())
    run = InCluster().runner(
        LoadContext(None, "ns", Target("Deployment", "x", selector, "x", 0, 1, 30),  # type: ignore[arg-type]
                    LoadSettings(), 30, tmp_path / "r")
    )  # fmt: skip
    with pytest.raises(WorkloadSpecError, match="matches the load's own pods"):
        run._check_labels()
    assert selector_pairs("a=b, c==d") == {"a": "b", "c": "d"}
    assert selector_pairs("a in (b)") is None and selector_pairs("a!=b") is None


def test_the_official_image_is_refused_for_kinds_it_has_no_client_for(tmp_path: Path) -> None:
    ctx = LoadContext(None, "ns", TARGET, LoadSettings(connection="grpc-unary"), 30, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(WorkloadSpecError, match="no client for 'grpc-unary'"):
        InCluster(image=OFFICIAL_LOCUST_IMAGE).runner(ctx)
    with pytest.raises(WorkloadSpecError, match="workers must be 1-64"):
        InCluster(workers=0)


def test_records_come_back_on_the_hosts_clock_and_a_lost_one_is_counted(tmp_path: Path) -> None:
    lines = [
        {"t": 100.5, "duration": 0.01, "ok": True, "status": 200, "w": "gp-load-worker-0"},
        {"t": 101.0, "duration": 0.01, "ok": True, "status": 200, "w": "gp-load-worker-1",
         "intended": 100.9},
    ]  # fmt: skip
    counts = {
        "received": {"gp-load-worker-0": 1, "gp-load-worker-1": 1},
        "made": {"gp-load-worker-0": 2, "gp-load-worker-1": 1},
        "gaps": {},
    }
    files = {"requests.jsonl": "".join(json.dumps(x) + "\n" for x in lines)}
    files["counts.json"] = json.dumps(counts)
    run = _run(tmp_path, FakeKube(files))
    # Worker 1's clock is 0.5 s ahead of the host's: its times move back. Worker 0's
    # reading cannot tell 0.01 s from none (+- 0.02 s): its times stay.
    run.clocks = {
        "gp-load-worker-0": [ClockReading(0.01, 0.02)],
        "gp-load-worker-1": [ClockReading(0.5, 0.02), ClockReading(0.52, 0.01)],
    }
    records, completeness = run._collect()
    assert [r.t for r in records] == [100.5, 100.5] and records[1].intended == pytest.approx(100.4)
    assert completeness == {
        "made": 3, "received": 2, "on_host": 2, "lost": 1, "not_done": [],
    }  # fmt: skip
    assert run._clock()["residual_uncertainty_s"] == pytest.approx(0.04)
    assert run._clock()["pods"]["gp-load-worker-0"]["applied_s"] == 0.0
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2


def test_a_worker_that_never_said_done_is_named(tmp_path: Path) -> None:
    files = {"counts.json": json.dumps({"received": {}, "made": {"gp-load-worker-0": 0}})}
    _, completeness = _run(tmp_path, FakeKube(files))._collect()
    assert completeness["not_done"] == ["gp-load-worker-1"]


def test_the_placement_is_in_the_id_only_when_the_load_leaves_the_host() -> None:
    app = SampleApp(SleepHook(5))
    host = Scenario(app)
    assert host.scenario_id == Scenario(app, placement=OnHost()).scenario_id
    assert "--" not in host.scenario_id.removeprefix("prestop-sleep--delete-one-by-one--new")
    cluster = Scenario(app, placement=InCluster(workers=2))
    assert cluster.scenario_id != host.scenario_id
    assert Scenario(app, placement=InCluster(workers=4)).scenario_id != cluster.scenario_id
    assert cluster.parameters()["placement"]["kind"] == "cluster"


def test_cli_load_flags_go_with_the_cluster_placement(tmp_path: Path) -> None:
    import argparse

    from graceproof.cli_prove import add_parser
    from graceproof.cli_prove_inputs import placement_of
    from graceproof.errors import OptionError

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    base = ["prove", "-f", "x", "--kubeconfig", "k"]
    assert isinstance(placement_of(parser.parse_args(base)), OnHost)
    cluster = placement_of(
        parser.parse_args([*base, "--load-from", "cluster", "--load-workers", "3"])
    )
    assert isinstance(cluster, InCluster) and cluster.workers == 3
    assert cluster.image == OFFICIAL_LOCUST_IMAGE
    with pytest.raises(OptionError, match="go with --load-from cluster"):
        placement_of(parser.parse_args([*base, "--load-workers", "3"]))


def test_the_official_image_is_the_one_hack_pins() -> None:
    from graceproof.config import read_env_file

    versions = read_env_file(Path(__file__).resolve().parents[2] / "hack" / "versions.env")
    assert versions["LOCUST_OFFICIAL_IMAGE"] == OFFICIAL_LOCUST_IMAGE


def test_the_report_says_where_the_load_ran_and_how_sure_its_clock_is() -> None:
    from types import SimpleNamespace

    from graceproof.report.markdown import _placement

    def result(residual: float) -> Any:
        clock = {"residual_uncertainty_s": residual}
        return SimpleNamespace(load={"placement": {"workers": 2, "clock": clock}})

    assert _placement(result(0.03)) == "; load from 2 worker pods in the cluster, clock +-0.030 s"
    assert _placement(result(0.25)).endswith("(window edges are only that sure)")
    assert _placement(SimpleNamespace(load={})) == ""


def test_a_load_through_an_ingress_is_not_taken_into_the_cluster(tmp_path: Path) -> None:
    from dataclasses import replace

    from graceproof.cli_prove import add_parser
    from graceproof.cli_prove_inputs import placement_of
    from graceproof.errors import OptionError

    run = _run(tmp_path)
    run.ctx = replace(run.ctx, target=replace(TARGET, through="traefik"))
    with pytest.raises(WorkloadSpecError, match="through the traefik ingress controller"):
        run._check_path()
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    argv = ["prove", "-f", "x", "--kubeconfig", "k", "--load-from", "cluster"]
    with pytest.raises(OptionError, match="--ingress goes with --load-from host"):
        placement_of(parser.parse_args([*argv, "--ingress", "traefik"]))
