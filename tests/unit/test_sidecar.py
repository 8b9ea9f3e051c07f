"""The sample app behind nginx in its own pod (graceproof.workloads.sidecar): its
manifests, what each variant expects, the refusal of a cluster too old for native
sidecars, and the app's outbound calls through the proxy's egress, all without a
cluster (the Kube below is a stand-in that records calls; nginx runs on this host)."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from graceproof.config import read_env_file
from graceproof.hooks import NoHook, SleepHook
from graceproof.model import EVENT_KINDS, TimelineEvent
from graceproof.scenario import Scenario
from graceproof.workloads import DeployContext, WorkloadSpecError
from graceproof.workloads.sidecar import (
    OUTBOUND_EVENT,
    NativeSidecarsUnsupportedError,
    OutboundCalls,
    ProxiedApp,
    StopSignalDroppedError,
    check_native_sidecars,
    outbound_after_deletion,
)
from graceproof.workloads.sidecar_manifests import (
    EGRESS_PORT,
    PROXY_IMAGE,
    PROXY_PORT,
    nginx_conf,
)

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


# A developer's machine without nginx skips these; CI installs it (hack/local-cluster.sh
# deps) and never skips: a skip there would count for nothing and hide a broken conf.
needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None and os.environ.get("CI", "") in ("", "0", "false"),
    reason="nginx is not installed here (hack/local-cluster.sh deps installs it)",
)


@needs_nginx
@pytest.mark.parametrize("egress", [None, "10.96.0.10:8000"], ids=["inbound", "with-egress"])
def test_nginx_accepts_the_rendered_conf(tmp_path: Path, egress: str | None) -> None:
    assert shutil.which("nginx"), "CI needs nginx for this test: hack/local-cluster.sh deps"
    conf = tmp_path / "nginx.conf"
    text = nginx_conf(egress_upstream=egress)
    conf.write_text(text.replace("/run/nginx.pid", str(tmp_path / "nginx.pid")))
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


# outbound calls through the proxy's egress ----------------------------------------------
def app_env(workload: ProxiedApp) -> dict[str, Any]:
    app = pod_spec(workload)["containers"][0]
    assert app["name"] == "app"
    return {e["name"]: e.get("value") for e in app["env"]}


def conf_of(objects: list[dict[str, Any]]) -> str:
    conf: str = by_kind(objects)["ConfigMap"]["data"]["nginx.conf"]
    return conf


@pytest.mark.parametrize("proxy", ["classic", "native"])
def test_outbound_points_the_app_at_the_egress_and_the_egress_at_the_service(
    proxy: str,
) -> None:
    workload = ProxiedApp(SleepHook(5), proxy=proxy, outbound=True)  # type: ignore[arg-type]
    env = app_env(workload)
    assert env["OUTBOUND_URL"] == f"http://127.0.0.1:{EGRESS_PORT}/"
    assert env["OUTBOUND_INTERVAL"] == "0.2"
    conf = conf_of(workload.manifests("img"))
    assert f"listen 127.0.0.1:{EGRESS_PORT};" in conf  # loopback: the pod's own app only
    # Without a cluster: the Service's name (deploy() gives its ClusterIP instead).
    assert f"proxy_pass http://web:{PROXY_PORT};" in conf
    assert f"listen {PROXY_PORT};" in conf  # the inbound proxy stays as it was


def test_without_outbound_the_app_calls_nothing_and_nginx_has_no_egress() -> None:
    workload = ProxiedApp(SleepHook(5), proxy="classic")
    assert "OUTBOUND_URL" not in app_env(workload)
    assert str(EGRESS_PORT) not in conf_of(workload.manifests("img"))


def test_outbound_names_itself_in_the_label_and_the_id() -> None:
    plain, outbound = ProxiedApp(SleepHook(5)), ProxiedApp(SleepHook(5), outbound=True)
    assert outbound.label == "prestop-sleep-behind-classic-proxy-outbound"
    assert outbound.expected == plain.expected == "errors"  # the verdict is the inbound one
    assert Scenario(outbound).scenario_id != Scenario(plain).scenario_id
    assert "outbound" not in Scenario(plain).scenario_id


def test_the_outbound_calls_are_a_timeline_kind_the_workload_declares() -> None:
    assert OUTBOUND_EVENT in EVENT_KINDS
    assert OUTBOUND_EVENT in ProxiedApp.signals


class ServiceIPKube(RecordingKube):
    """Gives each Service it creates a ClusterIP, as the API server does."""

    def __init__(self, cluster_ip: str = "10.96.0.42") -> None:
        super().__init__("v1.34.4")
        self.cluster_ip = cluster_ip
        self.calls: list[list[str]] = []

    def apply(self, docs: list[dict[str, Any]], namespace: str) -> list[Any]:
        self.calls.append([d["kind"] for d in docs])
        created = super().apply(docs, namespace)
        for obj in created:
            if obj.kind == "Service":
                obj.spec = SimpleNamespace(cluster_ip=self.cluster_ip)
        return created


def deploy_unwaited(workload: ProxiedApp, kube: RecordingKube) -> None:
    """deploy() up to the wait for the pods, which passes at once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            "graceproof.workloads.sidecar.workload_available",
            lambda *a: SimpleNamespace(wait=lambda timeout: None),
        )
        workload.deploy(DeployContext(kube, "ns", "img"))  # type: ignore[arg-type]


@pytest.mark.parametrize("proxy", ["classic", "native"])
def test_outbound_creates_the_service_first_and_passes_to_its_cluster_ip(proxy: str) -> None:
    # The local cluster has no cluster DNS: nginx gets the address, known once the
    # Service exists, and needs no resolver.
    kube = ServiceIPKube()
    deploy_unwaited(ProxiedApp(SleepHook(5), proxy=proxy, outbound=True), kube)  # type: ignore[arg-type]
    assert kube.calls == [["Service"], ["ConfigMap", "Deployment"]]
    conf = conf_of(kube.applied)
    assert f"proxy_pass http://10.96.0.42:{PROXY_PORT};" in conf
    assert "http://web:" not in conf


def test_an_ipv6_cluster_ip_is_bracketed_in_the_egress() -> None:
    kube = ServiceIPKube("fd00:10:96::a")
    deploy_unwaited(ProxiedApp(outbound=True), kube)
    assert f"proxy_pass http://[fd00:10:96::a]:{PROXY_PORT};" in conf_of(kube.applied)


def test_without_outbound_everything_is_created_in_one_go() -> None:
    kube = ServiceIPKube()
    deploy_unwaited(ProxiedApp(SleepHook(5)), kube)
    assert kube.calls == [["ConfigMap", "Deployment", "Service"]]


def _call(t: float, pod: str, ok: bool) -> TimelineEvent:
    return TimelineEvent(t, OUTBOUND_EVENT, pod, {"ok": ok, "status": 200 if ok else 0})


def test_outbound_calls_are_counted_per_pod_from_its_deletion_on() -> None:
    timeline = [
        _call(1.0, "web-a", False),  # before its deletion (its proxy starting): not counted
        _call(2.0, "web-a", True),
        TimelineEvent(3.0, "pod_deleted", "web-a"),
        _call(3.0, "web-a", True),  # at the deletion itself: counted
        _call(3.2, "web-a", False),
        _call(3.4, "web-a", False),
        _call(3.3, "web-b", False),  # web-b was not deleted then
        TimelineEvent(9.0, "pod_deleted", "web-b"),
        _call(9.2, "web-b", True),
        TimelineEvent(9.5, "pod_deleted", "web-a"),  # a second sight: the first counts
        TimelineEvent(10.0, "pod_deleted", "web-c"),  # deleted before any call
        TimelineEvent(3.1, "sigterm", "web-a"),
    ]
    assert outbound_after_deletion(reversed(timeline)) == {
        "web-a": OutboundCalls(made=3, failed=2),
        "web-b": OutboundCalls(made=1, failed=0),
        "web-c": OutboundCalls(made=0, failed=0),
    }


def test_an_outbound_call_without_an_ok_counts_as_failed() -> None:
    timeline = [
        TimelineEvent(1.0, "pod_deleted", "web-a"),
        TimelineEvent(1.1, OUTBOUND_EVENT, "web-a", {"status": 0}),
    ]
    assert outbound_after_deletion(timeline) == {"web-a": OutboundCalls(1, 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _get(url: str) -> int:
    # No proxy from the environment: the call must go to the egress itself.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=2) as response:
        status: int = response.status
        return status


@needs_nginx
def test_the_egress_carries_calls_until_nginx_gets_sigterm_then_refuses_them(
    tmp_path: Path,
) -> None:
    # What a classic proxy does to the app's calls in its preStop hook: nginx's fast
    # shutdown closes the egress's listener, and the next call is refused.
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    egress = _free_port()
    conf = tmp_path / "nginx.conf"
    text = nginx_conf(
        listen=_free_port(),
        egress_upstream=f"127.0.0.1:{upstream.server_address[1]}",
        egress_listen=egress,
    )
    conf.write_text(text.replace("/run/nginx.pid", str(tmp_path / "nginx.pid")))
    nginx = subprocess.Popen(
        ["nginx", "-e", "stderr", "-c", str(conf), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{egress}/"
    try:
        deadline = time.monotonic() + 10
        while True:  # until nginx listens, for at most 10 s
            try:
                assert _get(url) == 200
                break
            except urllib.error.URLError as exc:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the egress never answered: {exc}") from exc
                time.sleep(0.05)
        nginx.send_signal(signal.SIGTERM)
        assert nginx.wait(timeout=10) == 0
        with pytest.raises(urllib.error.URLError) as caught:
            _get(url)
        assert isinstance(caught.value.reason, ConnectionRefusedError)
    finally:
        if nginx.poll() is None:
            nginx.kill()
        nginx.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()
