"""graceproof.plan: what a proof will do, read from the manifests before any cluster,
with hints where the shape decides the outcome; and `graceproof prove --dry-run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.cli import main
from graceproof.disruptions import DeleteOneByOne, RollingUpdate
from graceproof.plan import hook_seconds, plan_of
from graceproof.sources import parse_yaml
from graceproof.workloads.manifests import resolve


def _deployment(replicas: int | None = 3, pre_stop: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "server",
        "image": "shop:1",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
    }
    if pre_stop is not None:
        container["lifecycle"] = {"preStop": pre_stop}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "shop"}},
        "template": {
            "metadata": {"labels": {"app": "shop"}},
            "spec": {"terminationGracePeriodSeconds": 20, "containers": [container]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop"},
        "spec": spec,
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "shop"},
    "spec": {
        "selector": {"app": "shop"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
    },
}
HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "shop"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
        "minReplicas": 2,
        "maxReplicas": 5,
    },
}
SLEEP_5 = {"exec": {"command": ["sh", "-c", "echo stopping > /stop.log && sleep 5"]}}


def _plan(*docs: dict[str, Any], disruption: Any = None) -> Any:
    resolved = resolve(parse_yaml(yaml.safe_dump_all(docs), "shop.yaml"))
    return plan_of(resolved, disruption=disruption or DeleteOneByOne())


@pytest.mark.parametrize(
    ("pre_stop", "seconds"),
    [
        ({"sleep": {"seconds": 7}}, 7.0),
        (SLEEP_5, 5.0),
        ({"exec": {"command": ["/bin/sleep", "3"]}}, 3.0),
        ({"httpGet": {"path": "/prestop", "port": 8080}}, None),
    ],
)
def test_a_hooks_length_is_read_where_its_form_says_it(
    pre_stop: dict[str, Any], seconds: float | None
) -> None:
    assert hook_seconds(pre_stop) == seconds


def test_the_plan_names_target_service_hooks_probes_and_the_control() -> None:
    plan = _plan(_deployment(pre_stop=SLEEP_5), SERVICE)
    assert plan.lines[:3] == (
        "target: deployment/shop (shop.yaml:1)",
        "replicas: 3",
        "service: service/shop port http -> targetPort http",
    )
    assert (
        "container server: exec 'sh -c echo stopping > /stop.log && sleep 5'; readiness probe "
        "every 2 s, unready after 3 failures" in plan.lines
    )
    assert "grace period: 20 s" in plan.lines
    assert any(
        line.startswith("control: the same objects without their 1 preStop") for line in plan.lines
    )
    assert plan.hints == ()
    assert plan.text().endswith("hints: none")


def test_an_hpa_sets_the_replicas_the_plan_counts_on() -> None:
    plan = _plan(_deployment(replicas=None, pre_stop=SLEEP_5), SERVICE, HPA)
    assert (
        "replicas: not set (1); horizontalpodautoscaler/shop scales it from 2 to 5 (the proof "
        "disrupts the live count)" in plan.lines
    )
    assert any(
        line.startswith("disruption: delete-one-by-one over 2 replica(s)") for line in plan.lines
    )
    assert plan.hints == ()  # two replicas at least: no one-replica hint


def test_one_replica_under_delete_is_a_hint_but_not_under_a_rolling_update() -> None:
    one = _deployment(replicas=1, pre_stop=SLEEP_5)
    (hint,) = _plan(one, SERVICE).hints
    assert hint.startswith(
        "one replica under delete-one-by-one: nothing serves while it is replaced"
    )
    assert _plan(one, SERVICE, disruption=RollingUpdate()).hints == ()


def test_a_hook_as_long_as_the_grace_period_and_a_missing_hook_are_hints() -> None:
    long_hook = _plan(_deployment(pre_stop={"sleep": {"seconds": 20}}), SERVICE)
    assert long_hook.hints == (
        "the preStop hook holds 20 s but the grace period is 20 s: the kubelet kills the "
        "container before the app gets SIGTERM's time to drain; raise "
        "terminationGracePeriodSeconds above the hook plus the app's drain",
    )
    none = _plan(_deployment(), SERVICE)
    assert (
        "control: none: deployment/shop has no preStop hook, so there is none to remove"
        in none.lines
    )
    assert none.hints[0].startswith("no preStop hook: the app itself must keep serving")


def test_dry_run_prints_the_plan_and_needs_no_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all([_deployment(replicas=1, pre_stop=SLEEP_5), SERVICE]))
    assert main(["prove", "-f", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"target: deployment/shop ({path}:1)\n")
    assert "\nhint: one replica under delete-one-by-one" in out


def test_without_dry_run_a_cluster_must_be_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No kubeconfig anywhere kubectl would look.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all([_deployment(pre_stop=SLEEP_5), SERVICE]))
    assert main(["prove", "-f", str(path)]) == 2
    assert "--kubeconfig FILE" in capsys.readouterr().err


def test_declared_replicas_are_brought_into_the_hpas_bounds() -> None:
    hpa = {**HPA, "spec": {**HPA["spec"], "minReplicas": 1, "maxReplicas": 3}}  # type: ignore[dict-item]
    plan = _plan(_deployment(replicas=5, pre_stop=SLEEP_5), SERVICE, hpa)
    assert any(
        line.startswith("disruption: delete-one-by-one over 3 replica(s)") for line in plan.lines
    )


def test_one_replica_that_cannot_surge_is_a_hint_under_a_rolling_update_too() -> None:
    recreate = _deployment(replicas=1, pre_stop=SLEEP_5)
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    (hint,) = _plan(recreate, SERVICE, disruption=RollingUpdate()).hints
    assert hint.startswith("one replica under rolling-update")
    no_surge = _deployment(replicas=1, pre_stop=SLEEP_5)
    no_surge["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    assert len(_plan(no_surge, SERVICE, disruption=RollingUpdate()).hints) == 1


def test_a_null_grace_period_is_the_default_and_sleep_5s_is_read() -> None:
    d = _deployment(pre_stop={"exec": {"command": ["sh", "-c", "sleep 5s"]}})
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = None
    plan = _plan(d, SERVICE)
    assert "grace period: 30 s" in plan.lines
    assert hook_seconds({"exec": {"command": ["sh", "-c", "sleep 5s"]}}) == 5.0


@pytest.mark.parametrize(("flag", "progress"), [("-q", False), ("", True), ("-v", True)])
def test_quiet_drops_the_progress_lines(tmp_path: Path, flag: str, progress: bool) -> None:
    import subprocess
    import sys

    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all([_deployment(pre_stop=SLEEP_5), SERVICE]))
    argv = [sys.executable, "-m", "graceproof.cli", "prove", "-f", str(path), "--dry-run"]
    run = subprocess.run([*argv, *([flag] if flag else [])], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("target: deployment/shop")
    assert ("rendering manifests" in run.stderr) is progress, run.stderr
