"""The sample app behind nginx in its own pod (graceproof.workloads.sidecar): its
manifests, what each variant expects, and the refusal of a cluster too old for native
sidecars, all without a cluster (the Kube below is a stand-in that records calls)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from graceproof.config import read_env_file
from graceproof.hooks import NoHook, SleepHook
from graceproof.scenario import Scenario
from graceproof.workloads import DeployContext, WorkloadSpecError
from graceproof.workloads.sidecar import (
    NativeSidecarsUnsupportedError,
    ProxiedApp,
    StopSignalDroppedError,
    check_native_sidecars,
)
from graceproof.workloads.sidecar_manifests import PROXY_IMAGE, PROXY_PORT, nginx_conf

ROOT = Path(__file__).resolve().parents[2]


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def pod_spec(workload: ProxiedApp) -> dict[str, Any]:
    spec: dict[str, Any] = by_kind(workload.manifests("img"))["Deployment"]["spec"]
    return spec["template"]["spec"]


# manifests ------------------------------------------------------------------------
def test_the_native_sidecar_is_an_init_container_that_restarts_always() -> None:
    spec = pod_spec(ProxiedApp(SleepHook(5), proxy="native"))
    [proxy] = spec["initContainers"]
    assert proxy["name"] == "proxy"
    assert proxy["restartPolicy"] == "Always"
    assert proxy["image"] == PROXY_IMAGE
    assert [c["name"] for c in spec["containers"]] == ["app"]


def test_the_classic_proxy_is_a_container_beside_the_app() -> None:
    spec = pod_spec(ProxiedApp(SleepHook(5), proxy="classic"))
    assert "initContainers" not in spec
    assert [c["name"] for c in spec["containers"]] == ["app", "proxy"]
    assert "restartPolicy" not in spec["containers"][1]
    assert "lifecycle" not in spec["containers"][1]


def test_the_app_keeps_its_hook_and_the_proxy_gets_a_sleep_of_its_own_only_when_asked() -> None:
    spec = pod_spec(ProxiedApp(SleepHook(5), proxy="classic", proxy_sleep_s=7))
    app, proxy = spec["containers"]
    assert app["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert proxy["lifecycle"] == {"preStop": {"sleep": {"seconds": 7}}}


def test_the_config_map_holds_an_nginx_conf_passing_to_the_app_on_loopback() -> None:
    objects = by_kind(ProxiedApp(proxy="native").manifests("img"))
    conf = objects["ConfigMap"]["data"]["nginx.conf"]
    assert f"listen {PROXY_PORT};" in conf
    assert "proxy_pass http://127.0.0.1:8080;" in conf
    assert "daemon" not in conf  # the image's command sets it; twice is an error
    volume = pod_spec(ProxiedApp(proxy="native"))["volumes"][0]
    assert volume["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    [mount] = pod_spec(ProxiedApp(proxy="native"))["initContainers"][0]["volumeMounts"]
    assert (mount["mountPath"], mount["subPath"]) == ("/etc/nginx/nginx.conf", "nginx.conf")


# A developer's machine without nginx skips this; CI installs it (hack/local-cluster.sh
# deps) and never skips: a skip there would count for nothing and hide a broken conf.
@pytest.mark.skipif(
    shutil.which("nginx") is None and os.environ.get("CI", "") in ("", "0", "false"),
    reason="nginx is not installed here (hack/local-cluster.sh deps installs it)",
)
def test_nginx_accepts_the_rendered_conf(tmp_path: Path) -> None:
    assert shutil.which("nginx"), "CI needs nginx for this test: hack/local-cluster.sh deps"
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf().replace("/run/nginx.pid", str(tmp_path / "nginx.pid")))
    done = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-g", "daemon off;"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_service_targets_the_proxys_port_not_the_apps() -> None:
    objects = by_kind(ProxiedApp(proxy="classic", node_port=30083).manifests("img"))
    [port] = objects["Service"]["spec"]["ports"]
    assert (port["port"], port["targetPort"], port["nodePort"]) == (PROXY_PORT, PROXY_PORT, 30083)
    assert objects["Service"]["spec"]["type"] == "NodePort"
    proxy = pod_spec(ProxiedApp(proxy="classic"))["containers"][1]
    assert proxy["ports"][0]["containerPort"] == PROXY_PORT
    assert proxy["readinessProbe"]["httpGet"]["port"] == PROXY_PORT


def test_the_app_runs_restricted_on_its_own_container_and_nginx_keeps_its_root() -> None:
    spec = pod_spec(ProxiedApp(proxy="native"))
    assert "securityContext" not in spec  # the pod's level would bind nginx too
    assert spec["containers"][0]["securityContext"]["runAsNonRoot"] is True
    assert "securityContext" not in spec["initContainers"][0]


def test_the_proxy_image_is_the_nginx_examples() -> None:
    versions = read_env_file(ROOT / "hack" / "versions.env")
    assert versions["EXAMPLE_NGINX_IMAGE"] == PROXY_IMAGE


# variants -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("workload", "label", "expected"),
    [
        (ProxiedApp(SleepHook(5), proxy="classic"), "prestop-sleep-behind-classic-proxy", "errors"),
        (
            ProxiedApp(SleepHook(5), proxy="native"),
            "prestop-sleep-behind-native-sidecar",
            "no-errors",
        ),
        (
            ProxiedApp(SleepHook(5), proxy="classic", proxy_sleep_s=5),
            "prestop-sleep-behind-classic-proxy-sleeping",
            "informative",
        ),
        (ProxiedApp(NoHook(), proxy="native"), "no-hook-behind-native-sidecar", "errors"),
    ],
)
def test_each_variant_names_itself_and_says_what_it_expects(
    workload: ProxiedApp, label: str, expected: str
) -> None:
    assert workload.label == label
    assert workload.expected == expected
    assert Scenario(workload).scenario_id.startswith(f"{label}--delete-one-by-one--new")


def test_variants_differing_in_one_parameter_never_share_an_id() -> None:
    ids = {
        Scenario(w).scenario_id
        for w in (
            ProxiedApp(proxy="classic"),
            ProxiedApp(proxy="native"),
            ProxiedApp(proxy="classic", proxy_sleep_s=5),
            ProxiedApp(proxy="classic", proxy_sleep_s=3),
            ProxiedApp(proxy="native", shutdown_mode="drain"),
        )
    }
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"proxy": "ambient"}, "proxy must be one of"),
        ({"proxy_sleep_s": 31}, "proxy_sleep_s must be between 1 and grace_seconds"),
        ({"proxy_sleep_s": 0}, "proxy_sleep_s must be between 1 and grace_seconds"),
        ({"node_port": 8080}, "outside 30080-30089"),
        ({"replicas": 0}, "replicas must be >= 1"),
    ],
)
def test_bad_parameters_are_refused_when_made(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkloadSpecError, match=message):
        ProxiedApp(**kwargs)


# the cluster's version --------------------------------------------------------------
@pytest.mark.parametrize("version", ["v1.29.0", "v1.33.1", "v1.34.4", "v1.30.2+k3s1", "1.31"])
def test_clusters_from_1_29_run_native_sidecars(version: str) -> None:
    check_native_sidecars(version)


@pytest.mark.parametrize("version", ["v1.28.15", "v1.27.3-gke.100", "v1.9.0"])
def test_a_cluster_before_1_29_is_refused_naming_its_version_and_the_fix(version: str) -> None:
    with pytest.raises(NativeSidecarsUnsupportedError) as caught:
        check_native_sidecars(version)
    text = str(caught.value)
    assert version in text
    assert "1.29 or later" in text
    assert "To fix" in text and "proxy='classic'" in text


class RecordingKube:
    """Answers /version and apply as a cluster would; records what was asked."""

    def __init__(self, version: str, *, keep_restart_policy: bool = True) -> None:
        self.version = version
        self.keep = keep_restart_policy
        self.applied: list[dict[str, Any]] = []

    def server_version(self) -> str:
        return self.version

    def apply(self, docs: list[dict[str, Any]], namespace: str) -> list[Any]:
        self.applied += docs
        created = []
        for doc in docs:
            if doc["kind"] != "Deployment":
                created.append(SimpleNamespace(kind=doc["kind"]))
                continue
            inits = [
                SimpleNamespace(
                    name=c["name"], restart_policy=c.get("restartPolicy") if self.keep else None
                )
                for c in doc["spec"]["template"]["spec"].get("initContainers", [])
            ]
            template = SimpleNamespace(spec=SimpleNamespace(init_containers=inits))
            created.append(
                SimpleNamespace(
                    kind="Deployment",
                    metadata=SimpleNamespace(name=doc["metadata"]["name"]),
                    spec=SimpleNamespace(template=template),
                )
            )
        return created


def test_a_native_sidecar_on_a_cluster_too_old_is_refused_before_anything_is_created() -> None:
    kube = RecordingKube("v1.28.15")
    with pytest.raises(NativeSidecarsUnsupportedError, match=r"v1\.28\.15"):
        ProxiedApp(proxy="native").deploy(DeployContext(kube, "ns", "img"))  # type: ignore[arg-type]
    assert kube.applied == []


def test_a_dropped_restart_policy_names_the_feature_gate() -> None:
    # 1.29 to 1.32 with SidecarContainers turned off: the API server drops the field.
    kube = RecordingKube("v1.30.2", keep_restart_policy=False)
    with pytest.raises(NativeSidecarsUnsupportedError, match="SidecarContainers feature gate"):
        ProxiedApp(proxy="native").deploy(DeployContext(kube, "ns", "img"))  # type: ignore[arg-type]


def test_a_classic_proxy_asks_no_version() -> None:
    kube = RecordingKube("v1.20.0")

    class Stop(Exception):
        pass

    def stop_at_the_wait(*args: Any, **kwargs: Any) -> Any:
        raise Stop

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("graceproof.workloads.sidecar.workload_available", stop_at_the_wait)
        with pytest.raises(Stop):
            ProxiedApp(proxy="classic").deploy(DeployContext(kube, "ns", "img"))  # type: ignore[arg-type]
    assert [d["kind"] for d in kube.applied] == ["ConfigMap", "Deployment", "Service"]


def test_a_native_sidecar_kept_by_the_api_server_goes_on_to_the_wait() -> None:
    kube = RecordingKube("v1.34.4")
    waited: list[Any] = []

    def wait_recorded(kube: Any, namespace: str, target: Any) -> Any:
        waited.append(target)
        return SimpleNamespace(wait=lambda timeout: None)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("graceproof.workloads.sidecar.workload_available", wait_recorded)
        target = ProxiedApp(proxy="native").deploy(DeployContext(kube, "ns", "img"))  # type: ignore[arg-type]
    assert waited == [target]
    assert (target.service, target.pod_port, target.node_port) == ("web", PROXY_PORT, 30085)


# lifecycle.stopSignal -----------------------------------------------------------------
def test_a_stop_signal_goes_on_the_proxy_and_the_pod_names_its_os() -> None:
    workload = ProxiedApp(SleepHook(8), proxy_sleep_s=2, proxy_stop_signal="SIGQUIT")
    spec = pod_spec(workload)
    _, proxy = spec["containers"]
    assert proxy["lifecycle"] == {"preStop": {"sleep": {"seconds": 2}}, "stopSignal": "SIGQUIT"}
    # The API server refuses a stopSignal in a pod that does not name its OS.
    assert spec["os"] == {"name": "linux"}
    assert "os" not in pod_spec(ProxiedApp(SleepHook(8), proxy_sleep_s=2))
    assert workload.label == "prestop-sleep-behind-classic-proxy-sleeping-sigquit"
    assert workload.expected == "no-errors"
    assert (
        Scenario(workload).scenario_id
        != Scenario(ProxiedApp(SleepHook(8), proxy_sleep_s=2)).scenario_id
    )


def test_a_stop_signal_that_names_no_signal_is_refused() -> None:
    with pytest.raises(WorkloadSpecError, match="proxy_stop_signal must name a signal"):
        ProxiedApp(proxy_stop_signal="QUIT")


class StopSignalKube(RecordingKube):
    """An API server that keeps or drops the containers' stopSignal (its gate)."""

    def __init__(self, *, keep: bool) -> None:
        super().__init__("v1.34.4")
        self.keep_signal = keep

    def apply(self, docs: list[dict[str, Any]], namespace: str) -> list[Any]:
        created = super().apply(docs, namespace)
        for doc, obj in zip(docs, created, strict=True):
            if doc["kind"] == "Deployment":
                obj.spec.template.spec.containers = [
                    SimpleNamespace(
                        name=c["name"],
                        lifecycle=SimpleNamespace(
                            stop_signal=c.get("lifecycle", {}).get("stopSignal")
                            if self.keep_signal
                            else None
                        ),
                    )
                    for c in doc["spec"]["template"]["spec"]["containers"]
                ]
        return created


def test_a_dropped_stop_signal_names_the_feature_gate_and_the_fix() -> None:
    kube = StopSignalKube(keep=False)
    with pytest.raises(StopSignalDroppedError) as caught:
        ProxiedApp(proxy_stop_signal="SIGQUIT").deploy(DeployContext(kube, "ns", "img"))  # type: ignore[arg-type]
    text = str(caught.value)
    assert "ContainerStopSignals feature gate is off" in text
    assert "deployment/web" in text and "To fix" in text


def test_a_kept_stop_signal_goes_on_to_the_wait() -> None:
    kube = StopSignalKube(keep=True)
    waited: list[Any] = []

    def wait_recorded(kube: Any, namespace: str, target: Any) -> Any:
        waited.append(target)
        return SimpleNamespace(wait=lambda timeout: None)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("graceproof.workloads.sidecar.workload_available", wait_recorded)
        ProxiedApp(proxy_stop_signal="SIGQUIT").deploy(DeployContext(kube, "ns", "img"))  # type: ignore[arg-type]
    assert len(waited) == 1


def test_stop_signals_are_kubernetes_names_not_the_hosts() -> None:
    assert ProxiedApp(proxy_stop_signal="SIGIOT").proxy_stop_signal == "SIGIOT"
    assert ProxiedApp(proxy_stop_signal="SIGRTMIN+3").proxy_stop_signal == "SIGRTMIN+3"
    with pytest.raises(WorkloadSpecError, match="must name a signal"):
        ProxiedApp(proxy_stop_signal="SIGINFO")  # macOS has it, Linux pods do not


def test_a_stop_signal_on_a_native_sidecar_is_refused_naming_the_classic_proxy() -> None:
    with pytest.raises(WorkloadSpecError, match="proxy='classic'"):
        ProxiedApp(proxy="native", proxy_stop_signal="SIGQUIT")
