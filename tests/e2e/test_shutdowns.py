"""Apps without a preStop hook, proven as a team ships them (`graceproof prove -f`), and
a verdict that names what kept or lost the requests (issue 23):

- an app that drains by itself (unready at SIGTERM, serving 5 s more, then draining):
  PROVEN, no control (there is no hook to remove), its own shutdown named;
- the same app with that delay off: NOT PROVEN, and no word of a hook it lacks;
- an app that ignores SIGTERM: killed at the end of its grace period, and said so.

The sample app plays each (SHUTDOWN_MODE, DRAIN_DELAY), behind a ClusterIP Service as a
team's manifests have it.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.cli import main
from graceproof.providers import ClusterProvider
from graceproof.workloads.sample import render

pytestmark = pytest.mark.e2e

# Claims a workload without a hook must never see.
HOOK_CREDITS = ("with the hook", "the hook is", "without the preStop hook")


def _manifests(
    tmp_path: Path, image: str, *, mode: str, grace: int = 30, env: dict[str, str] | None = None
) -> Path:
    docs: list[dict[str, Any]] = render(
        "no-hook",
        name="shop",
        image=image,
        replicas=2,
        grace_seconds=grace,
        shutdown_mode=mode,  # type: ignore[arg-type]
        node_port=30085,
    )
    for doc in docs:
        if doc["kind"] == "Service":  # a team's Service: graceproof adds its own NodePort
            doc["spec"]["type"] = "ClusterIP"
            for port in doc["spec"]["ports"]:
                port.pop("nodePort", None)
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["env"] += [{"name": k, "value": v} for k, v in (env or {}).items()]
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def _prove(
    tmp_path: Path, cluster: ClusterProvider, manifests: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """The CLI's exit code and the result JSON's `shutdown` sentence, after the plan
    (`--dry-run`) was checked: no control, and the missing hook as a hint."""
    assert main(["prove", "-f", str(manifests), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "control: none: deployment/shop has no preStop hook" in plan, plan
    assert "hint: no preStop hook: the app itself must keep serving" in plan, plan
    assert "disruption: delete-one-by-one over 2 replica(s)" in plan, plan
    reports = tmp_path / "reports"
    code = main(
        ["prove", "-f", str(manifests), "--kubeconfig", str(cluster.kubeconfig),
         "--run-id", "s" + secrets.token_hex(3), "--report-dir", str(reports),
         "--node-port", "30084"]
    )  # fmt: skip
    results = [json.loads(p.read_text()) for p in sorted(reports.glob("*.json"))]
    assert len(results) == 1, "a workload without a hook runs no control"
    return code, str(results[0]["shutdown"])


def test_an_app_that_drains_by_itself_is_proven_without_a_control_and_named(
    tmp_path: Path,
    cluster: ClusterProvider,
    workload_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifests = _manifests(tmp_path, workload_image, mode="drain", env={"DRAIN_DELAY": "5"})
    code, shutdown = _prove(tmp_path, cluster, manifests, capsys)
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("PROVEN: ")
    assert "no negative control: deployment/shop has no preStop hook" in out
    assert "shutdown: no preStop hook: the app's own shutdown kept each pod running" in out
    assert shutdown.startswith("no preStop hook: the app's own shutdown kept each pod running")
    assert not any(credit in out for credit in HOOK_CREDITS), out


def test_the_same_app_without_its_delay_loses_requests_and_no_hook_is_named(
    tmp_path: Path,
    cluster: ClusterProvider,
    workload_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifests = _manifests(tmp_path, workload_image, mode="drain")
    code, shutdown = _prove(tmp_path, cluster, manifests, capsys)
    out = capsys.readouterr().out
    assert code == 1, out
    assert out.startswith("NOT PROVEN: ")
    assert shutdown.startswith("no preStop hook: the app exited"), shutdown
    assert not any(credit in out for credit in HOOK_CREDITS), out


def test_an_app_that_ignores_sigterm_is_named_as_killed_at_the_grace_periods_end(
    tmp_path: Path,
    cluster: ClusterProvider,
    workload_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It serves until SIGKILL, long after its endpoint went: no request fails, and the
    # verdict must not read as a clean shutdown.
    manifests = _manifests(tmp_path, workload_image, mode="ignore", grace=8)
    code, shutdown = _prove(tmp_path, cluster, manifests, capsys)
    out = capsys.readouterr().out
    assert code == 0, out
    assert shutdown.startswith(
        "SIGTERM did not stop the app: 2 of 2 pods kept running until their grace period "
        "ran out and were killed (exit 137"
    ), shutdown
    assert f"shutdown: {shutdown}" in out
