"""Manifests of the sample workload: shape per variant, validation, and no drift."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof import workloads
from graceproof.workloads import (
    STOP_LOG_MESSAGE,
    STOP_LOG_PATH,
    VARIANTS,
    WorkloadSpecError,
    example_yaml,
    prestop_exec_command,
    render,
    render_pod,
    render_registry,
    stale_examples,
)

MANIFESTS = Path(__file__).resolve().parents[2] / "workloads" / "manifests"


def app_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = objects[0]["spec"]["template"]["spec"]["containers"][0]
    return container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def render_default(variant: str, **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("node_port", 30085)
    return render(variant, name="web", image="graceproof/workload:test", **kw)


@pytest.mark.parametrize("variant", VARIANTS)
def test_render_gives_a_deployment_and_a_nodeport_service(variant: str) -> None:
    deployment, service = render_default(variant, labels={"graceproof.dev/run": "r1"})
    assert deployment["kind"] == "Deployment"
    assert service["kind"] == "Service"
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30085
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    for labels in (deployment["metadata"]["labels"], service["metadata"]["labels"], pod_labels):
        assert labels["graceproof.dev/run"] == "r1"
    strategy = deployment["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_container_has_readiness_pull_policy_and_downward_pod_name(
    variant: str,
) -> None:
    objects = render_default(variant, shutdown_mode="drain", grace_seconds=45)
    container = app_container(objects)
    assert container["imagePullPolicy"] == "IfNotPresent"
    probe = container["readinessProbe"]
    assert probe["httpGet"] == {"path": "/healthz", "port": 8080}
    assert probe["periodSeconds"] == 1
    env = env_of(container)
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["SHUTDOWN_MODE"] == "drain"
    assert objects[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 45


def test_no_hook_has_no_lifecycle() -> None:
    assert "lifecycle" not in app_container(render_default("no-hook"))


def test_prestop_exec_writes_the_stop_log_and_logs_to_the_apps_stdout() -> None:
    hook = app_container(render_default("prestop-exec", sleep_seconds=7))["lifecycle"]["preStop"]
    command = hook["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    script = command[2]
    assert f"echo {STOP_LOG_MESSAGE} > {STOP_LOG_PATH}" in script
    assert "sleep 7" in script
    assert script.count(">> /proc/1/fd/1") == 2
    assert script.index("hook_start") < script.index("sleep 7") < script.index("hook_end")


def test_prestop_exec_script_runs_and_prints_json_hook_lines(tmp_path: Path) -> None:
    # Run the real script with sh, its two paths redirected into tmp_path.
    out, stop_log = tmp_path / "stdout", tmp_path / "stop.log"
    script = (
        prestop_exec_command(0)
        .replace("/proc/1/fd/1", str(out))
        .replace(STOP_LOG_PATH, str(stop_log))
    )
    env = {**os.environ, "POD_NAME": "web-1"}
    subprocess.run(["sh", "-c", script], env=env, check=True, timeout=10)
    assert stop_log.read_text() == STOP_LOG_MESSAGE + "\n"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["hook_start", "hook_end"]
    assert all(line["pod"] == "web-1" and line["hook"] == "exec" for line in lines)
    assert 0 <= lines[1]["t"] - lines[0]["t"] < 5


def test_prestop_http_calls_the_apps_prestop_endpoint() -> None:
    hook = app_container(render_default("prestop-http", sleep_seconds=4))["lifecycle"]["preStop"]
    assert hook == {"httpGet": {"path": "/prestop?sleep=4", "port": 8080}}


def test_prestop_sleep_uses_the_kubelet_sleep_action() -> None:
    hook = app_container(render_default("prestop-sleep", sleep_seconds=5))["lifecycle"]["preStop"]
    assert hook == {"sleep": {"seconds": 5}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"node_port": 31000}, "outside 30080-30089"),
        ({"variant": "prestop-tcp"}, "unknown variant"),
        ({"shutdown_mode": "graceful"}, "shutdown_mode"),
        ({"variant": "prestop-sleep", "sleep_seconds": 40, "grace_seconds": 30}, "<= grace"),
        ({"replicas": 0}, "replicas"),
    ],
)
def test_render_refuses_bad_parameters(kwargs: dict[str, Any], message: str) -> None:
    variant = kwargs.pop("variant", "no-hook")
    with pytest.raises(WorkloadSpecError, match=message):
        render_default(variant, **kwargs)


def test_render_pod_builds_a_single_pod_with_the_hook() -> None:
    pod = render_pod("prestop-exec", name="hooked", image="img:1", grace_seconds=20)
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["name"] == "hooked"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 20
    assert "exec" in pod["spec"]["containers"][0]["lifecycle"]["preStop"]


def test_registry_runs_the_app_in_registry_role_and_workloads_can_point_to_it() -> None:
    registry = render_registry(name="registry", image="img:1", node_port=30089)
    assert env_of(app_container(registry))["APP_ROLE"] == "registry"
    assert registry[0]["spec"]["replicas"] == 1
    web = render_default("prestop-http", registry_url="http://registry:8080")
    assert env_of(app_container(web))["REGISTRY_URL"] == "http://registry:8080"


@pytest.mark.parametrize("variant", VARIANTS)
def test_example_manifest_files_equal_the_rendered_output(variant: str) -> None:
    path = MANIFESTS / f"{variant}.yaml"
    assert path.read_text(encoding="utf-8") == example_yaml(variant), (
        f"{path} drifted from graceproof.workloads.render; run `python -m graceproof.workloads`"
    )
    assert list(yaml.safe_load_all(path.read_text())) == workloads.example(variant)


def test_regenerating_writes_files_that_check_clean(tmp_path: Path) -> None:
    assert workloads.main(["--out", str(tmp_path)]) == 0
    assert stale_examples(tmp_path) == []
    (tmp_path / "no-hook.yaml").write_text("# edited by hand\n")
    assert stale_examples(tmp_path) == [tmp_path / "no-hook.yaml"]
    assert workloads.main(["--out", str(tmp_path), "--check"]) == 1


def test_the_manifests_command_reports_the_repository_files_up_to_date() -> None:
    from graceproof.cli import main as cli_main

    assert cli_main(["manifests", "--check"]) == 0
