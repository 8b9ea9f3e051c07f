"""Clear errors for a cluster that is not there, a kubeconfig that is broken, and a
manifest the API server refuses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from graceproof.errors import BadKubeconfigError, ClusterUnreachableError, ManifestRejectedError
from graceproof.kube import Kube

pytestmark = pytest.mark.cluster

WORKLOAD_IMAGE = "graceproof/workload:0.1.0"
UNREACHABLE = "https://127.0.0.1:1"


def test_unreachable_cluster_names_the_server_and_the_kubeconfig_quickly(
    write_kubeconfig: Any,
) -> None:
    path = write_kubeconfig(server=UNREACHABLE)
    started = time.monotonic()
    with pytest.raises(ClusterUnreachableError) as info:
        Kube.from_kubeconfig(path)
    assert time.monotonic() - started < 30
    text = str(info.value)
    assert UNREACHABLE in text and str(path) in text
    assert "Is the cluster running?" in text
    assert info.value.server == UNREACHABLE


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("clusters: [unclosed\n", "not valid YAML"),
        ("apiVersion: v1\nkind: Config\n", "no clusters or contexts"),
        ("just a string\n", "no clusters or contexts"),
    ],
)
def test_malformed_kubeconfig_says_what_is_wrong(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    with pytest.raises(BadKubeconfigError, match=reason) as info:
        Kube.from_kubeconfig(path)
    assert str(path) in str(info.value)


def test_missing_kubeconfig_is_a_bad_kubeconfig_error(tmp_path: Path) -> None:
    with pytest.raises(BadKubeconfigError, match="cannot read it"):
        Kube.from_kubeconfig(tmp_path / "nope")


def test_plugin_reports_an_unreachable_cluster_as_a_setup_error(
    run_inner: Any, pytester: pytest.Pytester, write_kubeconfig: Any
) -> None:
    path = write_kubeconfig(server=UNREACHABLE)
    pytester.makepyfile("def test_needs_a_namespace(namespace):\n    pass\n")
    result = run_inner("--gp-provider", "existing", "--gp-kubeconfig", str(path))
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    assert "ClusterUnreachableError" in text and UNREACHABLE in text


def test_plugin_reports_a_malformed_kubeconfig_as_a_setup_error(
    run_inner: Any, pytester: pytest.Pytester
) -> None:
    path = pytester.path / "broken-kubeconfig"
    path.write_text("clusters: [unclosed\n")
    pytester.makepyfile("def test_needs_a_namespace(namespace):\n    pass\n")
    result = run_inner("--gp-provider", "existing", "--gp-kubeconfig", str(path))
    result.assert_outcomes(errors=1)
    assert "BadKubeconfigError" in result.stdout.str()
    assert "not valid YAML" in result.stdout.str()


def test_invalid_name_is_rejected_with_the_api_servers_message(namespace: str, kube: Kube) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "Bad_Name"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "app", "image": WORKLOAD_IMAGE}]},
            },
        },
    }
    with pytest.raises(ManifestRejectedError) as info:
        kube.apply([deployment], namespace)
    err = info.value
    assert (err.kind, err.name, err.status) == ("Deployment", "Bad_Name", 422)
    assert "RFC 1123" in err.message  # the API server's own words
    assert "the API server rejected (HTTP 422) Deployment 'Bad_Name'" in str(err)


def test_prestop_sleep_longer_than_the_grace_period_is_rejected(namespace: str, kube: Kube) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "too-long-sleep"},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "app",
                    "image": WORKLOAD_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "lifecycle": {"preStop": {"sleep": {"seconds": 30}}},
                }
            ],
        },
    }
    with pytest.raises(ManifestRejectedError) as info:
        kube.apply([pod], namespace)
    assert info.value.status == 422
    assert "terminationGracePeriodSeconds" in info.value.message
    assert "lifecycle.preStop.sleep" in info.value.message


def test_a_structurally_wrong_manifest_is_refused_before_sending(
    namespace: str, kube: Kube
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {},
    }
    with pytest.raises(ManifestRejectedError, match="kubernetes client refused") as info:
        kube.apply([deployment], namespace)
    assert info.value.status == 0
    assert "selector" in info.value.message
