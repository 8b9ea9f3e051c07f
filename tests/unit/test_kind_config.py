"""kind-config.yaml: the cluster the kind provider creates for the e2e proofs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

KIND_CONFIG = Path(__file__).resolve().parents[2] / "kind-config.yaml"
# The NodePorts the proofs' Services use; load goes to them on 127.0.0.1.
NODE_PORTS = set(range(30080, 30090))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded = yaml.safe_load(KIND_CONFIG.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _mappings(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for node in config["nodes"] for m in node.get("extraPortMappings", [])]


def test_is_a_kind_v1alpha4_cluster_without_a_fixed_name(config: dict[str, Any]) -> None:
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    # The name comes from `kind create cluster --name` (CLUSTER_NAME).
    assert "name" not in config


def test_has_one_control_plane_and_two_workers(config: dict[str, Any]) -> None:
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]


def test_every_port_mapping_binds_the_same_port_on_loopback_only(config: dict[str, Any]) -> None:
    mappings = _mappings(config)
    assert mappings
    for m in mappings:
        assert m["containerPort"] == m["hostPort"], m
        assert m["listenAddress"] == "127.0.0.1", m
        assert m.get("protocol", "TCP") == "TCP", m


def test_maps_exactly_the_nodeports_30080_to_30089(config: dict[str, Any]) -> None:
    ports = [m["hostPort"] for m in _mappings(config)]
    assert sorted(ports) == sorted(NODE_PORTS)


def test_maps_the_nodeports_on_the_control_plane_whose_kube_proxy_serves_them(
    config: dict[str, Any],
) -> None:
    # A host port can be bound once; kube-proxy on the control-plane node forwards
    # each NodePort to the pods on the workers.
    control_plane, *workers = config["nodes"]
    assert {m["hostPort"] for m in control_plane["extraPortMappings"]} == NODE_PORTS
    assert all("extraPortMappings" not in w for w in workers)


def test_the_stop_signal_gate_is_on_here_as_on_the_local_cluster(config: dict[str, Any]) -> None:
    # tests/e2e/test_stop_signals.py runs on both: the API server drops lifecycle.stopSignal
    # while ContainerStopSignals is off.
    assert config["featureGates"] == {"ContainerStopSignals": True}
    local = (KIND_CONFIG.parent / "hack" / "local-cluster.sh").read_text()
    assert "\nfeature_gates=ContainerStopSignals=true\n" in local
