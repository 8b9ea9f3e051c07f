"""kube-proxy's mode: read from the cluster's ConfigMap, recorded in each result, asked
for with --gp-kube-proxy-mode (kind is created in it; any cluster must run it)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml
from kubernetes.client import V1ConfigMap
from kubernetes.client.exceptions import ApiException

from graceproof.config import build_options
from graceproof.errors import OptionError
from graceproof.kube import Kube
from graceproof.measurement import ClusterInfo
from graceproof.providers.kind_checks import with_proxy_mode
from graceproof.proxy_mode import check_proxy_mode, mode_of_config, read_proxy_mode

KIND_CONFIG = """\
kind: KubeProxyConfiguration
apiVersion: kubeproxy.config.k8s.io/v1alpha1
mode: nftables
"""


def _kube(answer: V1ConfigMap | ApiException) -> Kube:
    def read(name: str, namespace: str, **_: Any) -> V1ConfigMap:
        assert (namespace, name) == ("kube-system", "kube-proxy")
        if isinstance(answer, ApiException):
            raise answer
        return answer

    return cast(Kube, SimpleNamespace(core=SimpleNamespace(read_namespaced_config_map=read)))


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        (KIND_CONFIG, "nftables"),
        ("kind: KubeProxyConfiguration\nmode: IPTables\n", "iptables"),
        ("kind: KubeProxyConfiguration\nmode: ''\n", "iptables"),  # Linux's default
        ("kind: KubeProxyConfiguration\n", "iptables"),
        ("kind: KubeletConfiguration\nmode: nftables\n", None),  # not kube-proxy's
        ("mode: [nftables\n", None),  # not YAML
    ],
)
def test_the_mode_of_a_kube_proxy_configuration(text: str, mode: str | None) -> None:
    assert mode_of_config(text) == mode


def test_the_cluster_says_its_mode_in_its_kube_proxy_configmap() -> None:
    kube = _kube(V1ConfigMap(data={"config.conf": KIND_CONFIG, "kubeconfig.conf": "x"}))
    assert read_proxy_mode(kube) == "nftables"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_cluster_that_does_not_say_leaves_the_mode_unknown(status: int) -> None:
    assert read_proxy_mode(_kube(ApiException(status=status))) is None
    assert read_proxy_mode(_kube(V1ConfigMap(data={}))) is None


def test_an_api_error_leaves_the_mode_unknown_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert read_proxy_mode(_kube(ApiException(status=500))) is None
    assert "reading kube-system/kube-proxy failed" in caplog.text


def test_a_cluster_in_another_mode_is_refused_naming_both_and_the_fix() -> None:
    kube = _kube(V1ConfigMap(data={"config.conf": "kind: KubeProxyConfiguration\n"}))
    assert check_proxy_mode(kube, "iptables", "graceproof") == "iptables"
    with pytest.raises(OptionError) as err:
        check_proxy_mode(kube, "nftables", "graceproof")
    text = str(err.value)
    assert "--gp-kube-proxy-mode nftables" in text and "runs kube-proxy in iptables mode" in text
    assert "kind delete cluster --name graceproof" in text
    with pytest.raises(OptionError, match="does not say which mode"):
        check_proxy_mode(_kube(ApiException(status=404)), "nftables", "prod")


def test_the_option_takes_a_mode_by_name_and_refuses_anything_else(tmp_path: Path) -> None:
    options = build_options({"gp_kube_proxy_mode": "NFTables"}, {}, cwd=tmp_path, root=tmp_path)
    assert options.kube_proxy_mode == "nftables"
    env = build_options({}, {"GRACEPROOF_KUBE_PROXY_MODE": "ipvs"}, cwd=tmp_path, root=tmp_path)
    assert env.kube_proxy_mode == "ipvs"
    assert build_options({}, {}, cwd=tmp_path, root=tmp_path).kube_proxy_mode is None
    with pytest.raises(OptionError, match="'userspace' is not a kube-proxy mode: use one of"):
        build_options({"gp_kube_proxy_mode": "userspace"}, {}, cwd=tmp_path, root=tmp_path)


def test_a_kind_config_gets_the_mode_and_keeps_everything_else(tmp_path: Path) -> None:
    config = tmp_path / "kind-config.yaml"
    config.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
        "featureGates: {ContainerStopSignals: true}\n"
        "networking: {ipFamily: ipv4}\n"
        "nodes:\n- role: control-plane\n- role: worker\n"
    )
    out = with_proxy_mode(config, "nftables", tmp_path / "state" / "kind.yaml")
    written = yaml.safe_load(out.read_text())
    assert written["networking"] == {"ipFamily": "ipv4", "kubeProxyMode": "nftables"}
    assert written["featureGates"] == {"ContainerStopSignals": True}
    assert [n["role"] for n in written["nodes"]] == ["control-plane", "worker"]
    assert "kubeProxyMode" not in config.read_text()  # the user's file is untouched
    bare = yaml.safe_load(with_proxy_mode(None, "iptables", tmp_path / "bare.yaml").read_text())
    assert bare == {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"kubeProxyMode": "iptables"},
    }


def test_each_result_records_the_mode_and_reads_back_one_written_before_it() -> None:
    info = ClusterInfo("kind", "graceproof", "v1.34.4", proxy_mode="nftables")
    assert ClusterInfo.from_dict(info.to_dict()) == info
    assert info.describe() == "kind graceproof, Kubernetes v1.34.4, kube-proxy nftables"
    old = {"provider": "existing", "name": "prod", "kubernetes_version": "v1.33.1"}
    assert ClusterInfo.from_dict(old).proxy_mode is None
    assert ClusterInfo.from_dict(old).describe() == "existing prod, Kubernetes v1.33.1"
