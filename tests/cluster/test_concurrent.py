"""Two proofs at once in one cluster, by two processes, as two CI jobs on a shared
cluster run them: each in namespaces of its own run, each on a node port of its own
(neither was given one; the second finds the first's taken and takes the next), both
results kept in one report folder under names of their own, and both verdicts right."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from graceproof.kube import Kube
from graceproof.namespaces import RUN_ID_LABEL, delete_run_namespaces

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
PROOF_TIMEOUT = 600


def test_two_concurrent_proofs_take_their_own_ports_namespaces_and_names(
    cluster: Any, kube: Kube, tmp_path: Path
) -> None:
    manifest = ROOT / "workloads" / "manifests" / "prestop-sleep.yaml"
    reports = tmp_path / "reports"
    runs = {f"cc{secrets.token_hex(3)}": tmp_path / f"{i}.log" for i in range(2)}
    procs = {run_id: _prove(manifest, cluster.kubeconfig, run_id, reports, log, tmp_path)
             for run_id, log in runs.items()}  # fmt: skip
    verdicts: dict[str, dict[str, Any]] = {}
    try:
        for run_id, proc in procs.items():
            out, _ = proc.communicate(timeout=PROOF_TIMEOUT)
            assert proc.returncode == 0, runs[run_id].read_text()[-4000:]
            verdicts[run_id] = json.loads(out)
        # What each made, it removed (before the cleanup below could).
        for run_id in runs:
            left = kube.core.list_namespace(label_selector=f"{RUN_ID_LABEL}={run_id}").items
            assert all(ns.metadata.deletion_timestamp for ns in left), [
                n.metadata.name for n in left
            ]
    finally:
        # SIGTERM first: prove removes what it made (SIGKILL would leave it behind).
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for run_id in runs:
            delete_run_namespaces(kube, run_id)
    for run_id, verdict in verdicts.items():
        hooked = verdict["hooked"]
        assert verdict["proven"] is True, (run_id, hooked["message"])
        assert hooked["counts"]["failed"] == 0 and hooked["counts"]["in_windows"] > 0, hooked
    results = {Path(v["hooked"]["result"]) for v in verdicts.values()}
    assert len(results) == 2, results  # one scenario id, two files: none overwritten
    ports = {json.loads(p.read_text())["parameters"]["target"]["node_port"] for p in results}
    assert len(ports) == 2, ports


def _prove(
    manifest: Path, kubeconfig: Path, run_id: str, reports: Path, log: Path, home: Path
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "graceproof.cli", "prove", "-f", str(manifest),
            "--kubeconfig", str(kubeconfig), "--no-control", "-o", "json",
            "--run-id", run_id, "--report-dir", str(reports)]  # fmt: skip
    with log.open("w") as err:
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, text=True,
            env={**os.environ, "HOME": str(home)},
        )  # fmt: skip
