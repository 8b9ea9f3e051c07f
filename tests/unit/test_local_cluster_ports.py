"""hack/local-cluster.sh refuses to start when a port it listens on is taken.

A process left from another clone's cluster holding, say, the controller-manager's
port made ours exit at once, and `up` then waited 60 s for the default service
account without saying why. The check runs before anything is built or started, so
this test needs no cluster (a state dir of its own keeps any running one apart).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "local-cluster.sh"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(
    shutil.which("ss") is None or shutil.which("bash") is None, reason="needs ss and bash"
)


def test_up_names_the_process_holding_a_cluster_port(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        # etcd's client port; were it already taken (a cluster running here), that
        # holder must be named instead.
        try:
            holder.bind(("127.0.0.1", 2379))
            holder.listen()
        except OSError:
            pass
        run = subprocess.run(
            [str(SCRIPT), "up", "--nodes", "1"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            # A Docker engine of hack/docker.sh running on this machine would be refused
            # first: this test's engine is looked for in its own (empty) run folder.
            env={
                "PATH": SYSTEM_PATH,
                "GRACEPROOF_LOCAL_CLUSTER_DIR": str(state),
                "GRACEPROOF_DOCKER_RUN_DIR": str(tmp_path / "docker-run"),
            },
        )
    finally:
        holder.close()
    assert run.returncode == 1, run.stderr
    assert "etcd cannot start: 127.0.0.1:2379, where it listens, is held by pid " in run.stderr
    assert "hack/local-cluster.sh down in that clone" in run.stderr
    # Refused before anything was started or written.
    assert "starting" not in run.stderr
    assert not (state / "pids").exists()
