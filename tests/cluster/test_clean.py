"""`graceproof clean` removes this machine's finished runs and leaves a concurrent
run's namespace, and another machine's, alone (issue 26)."""

from __future__ import annotations

import secrets
import subprocess
from typing import Any

import pytest

from graceproof.cli import main
from graceproof.kube import Kube
from graceproof.namespaces import (
    HOST_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PID_LABEL,
    PIDNS_LABEL,
    RUN_ID_LABEL,
    delete_namespaces,
    pid_namespace,
    this_host,
)

pytestmark = pytest.mark.cluster


def _namespace(kube: Kube, run_id: str, host: str, pid: int, pidns: str | None = None) -> str:
    name = f"gp-{run_id}-clean"
    pidns = pid_namespace() if pidns is None else pidns
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_ID_LABEL: run_id, HOST_LABEL: host,
              PID_LABEL: str(pid), PIDNS_LABEL: pidns}  # fmt: skip
    kube.core.create_namespace({"metadata": {"name": name, "labels": labels}})
    return name


def _present(kube: Kube, names: list[str]) -> set[str]:
    """Those of `names` that exist and are not being deleted."""
    return {
        ns.metadata.name
        for ns in kube.core.list_namespace().items
        if ns.metadata.name in names and ns.metadata.deletion_timestamp is None
    }


def test_clean_leaves_a_concurrent_run_and_another_machine_alone(
    cluster: Any, kube: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_pid = subprocess.Popen(["true"])  # a process that has ended: a finished run
    finished_pid.wait()
    tag = secrets.token_hex(2)
    finished = _namespace(kube, f"cf{tag}", this_host(), finished_pid.pid)
    running = _namespace(kube, f"cr{tag}", this_host(), 1)  # pid 1 lives as long as we do
    elsewhere = _namespace(kube, f"ce{tag}", "another-machine", finished_pid.pid)
    # Same host name, another pid namespace (a container with the host's network): its
    # pid means nothing here, so it is left alone.
    container = _namespace(kube, f"cc{tag}", this_host(), finished_pid.pid, pidns="4026531836x")
    names = [finished, running, elsewhere, container]
    try:
        assert main(["clean", "--kubeconfig", str(cluster.kubeconfig), "--dry-run"]) == 0
        dry = capsys.readouterr().out
        assert finished in dry.splitlines()[0] and running not in dry.splitlines()[0], dry
        assert _present(kube, names) == set(names)  # a dry run deletes nothing

        assert main(["clean", "--kubeconfig", str(cluster.kubeconfig)]) == 0
        out = capsys.readouterr().out
        assert "this machine's finished runs'" in out
        assert _present(kube, names) == {running, elsewhere, container}
        assert "left " in out and running in out and elsewhere in out

        assert main(["clean", "--kubeconfig", str(cluster.kubeconfig), "--run-id", f"cr{tag}"]) == 0
        assert _present(kube, names) == {elsewhere, container}
    finally:
        delete_namespaces(kube, names, wait=False)
