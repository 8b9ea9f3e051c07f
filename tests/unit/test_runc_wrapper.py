"""hack/runc_caps.py's bundle edits (pure JSON; the kind e2e tests run through it)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

WRAPPER = Path(__file__).resolve().parents[2] / "hack" / "runc_caps.py"


@pytest.fixture(scope="module")
def wrapper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("runc_caps", WRAPPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bundle(tmp_path: Path, namespaces: list[dict[str, str]]) -> Path:
    spec: dict[str, Any] = {"process": {"capabilities": {}}, "linux": {"namespaces": namespaces}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(spec))
    return path


def test_a_container_with_its_own_network_namespace_forwards(
    wrapper: ModuleType, tmp_path: Path
) -> None:
    # A kind node: a NodePort on the control-plane node leads to pods on the workers.
    path = _bundle(tmp_path, [{"type": "pid"}, {"type": "network"}])
    wrapper.edit(str(path), in_process=True)
    assert json.loads(path.read_text())["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}


def test_the_hosts_network_namespace_is_left_alone(wrapper: ModuleType, tmp_path: Path) -> None:
    # runc refuses net.* sysctls there, and the host's forwarding stays off.
    path = _bundle(tmp_path, [{"type": "network", "path": "/proc/1/ns/net"}])
    wrapper.edit(str(path), in_process=True)
    assert "sysctl" not in json.loads(path.read_text())["linux"]
