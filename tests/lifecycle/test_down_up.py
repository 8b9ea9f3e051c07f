"""`down` then `up` of the local cluster of hack/ works, and `down` leaves nothing.

Run last and on its own (`make test` does so with GRACEPROOF_LIFECYCLE=1): it stops
the cluster the other tests use, then brings it back.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "local-cluster.sh"
STATE = Path(os.environ.get("GRACEPROOF_LOCAL_CLUSTER_DIR", REPO / ".local-cluster"))
# The node count `make test` brought the cluster up with (Makefile NODES).
NODES = int(os.environ.get("NODES", "1"))

CLUSTER_PORTS = {2379, 2380, 2381, 6443, 10257, 10259, 10249, 10256, 10250, 10248}

# Deselected (tests/conftest.py) unless GRACEPROOF_LIFECYCLE=1.
pytestmark = pytest.mark.lifecycle


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _leftovers() -> list[str]:
    found = []
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    found += [m for m in mounts if f" {STATE}/" in m]
    found += [f"pid file {p}" for p in (STATE / "pids").glob("*.pid")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [line.split(":")[1].strip() for line in links.splitlines() if ": gp-cni" in line]
    # The cgroup roots of nodes 2 and up (node 1's pods live under /kubepods).
    found += [str(d) for d in Path("/sys/fs/cgroup").glob("*/gp-node-*")]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found += [line for line in rules.splitlines() if "KUBE-" in line or "CNI-" in line]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [n for n in netns.splitlines() if n.startswith("cni-")]
    # A process still listening on a cluster port would make the next `up` (of this
    # clone or another) fail: etcd, apiserver, controller-manager, scheduler,
    # kube-proxy, kubelets.
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    for line in listening.splitlines():
        port = int(line.split()[3].rsplit(":", 1)[1])
        if port in CLUSTER_PORTS:
            found.append(f"listening: {line}")
    return found


def test_down_leaves_nothing_and_up_works_again() -> None:
    t0 = time.monotonic()
    down = _run("down")
    down_s = time.monotonic() - t0
    assert down.returncode == 0, down.stderr
    assert _leftovers() == []

    t0 = time.monotonic()
    up = _run("up", "--nodes", str(NODES))
    up_s = time.monotonic() - t0
    assert up.returncode == 0, up.stderr[-3000:]
    status = _run("status")
    assert status.returncode == 0, status.stdout
    ready = [line for line in status.stdout.splitlines() if line.endswith(" Ready")]
    assert len(ready) == NODES, status.stdout
    print(f"local cluster of {NODES} node(s): down {down_s:.1f}s, up (warm) {up_s:.1f}s")


def test_up_of_a_running_cluster_keeps_every_process() -> None:
    # Each `make e2e` runs `up` on the running cluster: it must start nothing again and
    # stop nothing. kube-proxy exits on any write to its config file; `up` rewrote it,
    # and every NodePort went silent until the next `up` (seen: 60 s waits for a
    # NodePort, then the next run passed).
    pids_dir = STATE / "pids"
    before = {p.name: p.read_text().strip() for p in pids_dir.glob("*.pid")}
    assert "kube-proxy.pid" in before, before
    up = _run("up", "--nodes", str(NODES))
    assert up.returncode == 0, up.stderr[-3000:]
    assert "starting" not in up.stderr, up.stderr
    time.sleep(3)  # kube-proxy's file watch reacts within a moment
    after = {p.name: p.read_text().strip() for p in pids_dir.glob("*.pid")}
    assert after == before
    for name, pid in after.items():
        assert Path(f"/proc/{pid}").exists(), f"{name} ({pid}) exited after `up`"
