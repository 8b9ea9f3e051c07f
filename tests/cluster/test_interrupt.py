"""Ctrl-C or SIGTERM in the middle of a test leaves no namespace of that run behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from graceproof.kube import Kube
from graceproof.namespaces import RUN_ID_LABEL, delete_run_namespaces
from graceproof.waiting import wait_for

pytestmark = pytest.mark.cluster

BLOCKING_TEST = """
import time
from pathlib import Path


def test_blocks(namespace):
    Path("namespace.txt").write_text(namespace)
    time.sleep(600)
"""


@pytest.mark.parametrize(
    ("signum", "exit_code", "said"),
    [
        (signal.SIGINT, pytest.ExitCode.INTERRUPTED, "KeyboardInterrupt"),
        # What timeout, kill and a CI runner cancelling the job send (issue 24).
        (signal.SIGTERM, 143, "SIGTERM"),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_during_a_test_removes_the_runs_namespaces(
    pytester: pytest.Pytester,
    inner_cluster_args: list[str],
    kube: Kube,
    fresh_run_id: str,
    signum: signal.Signals,
    exit_code: int,
    said: str,
) -> None:
    test_file = pytester.makepyfile(test_blocks=BLOCKING_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRACEPROOF_")}
    env["PYTHONUNBUFFERED"] = "1"  # its log up to the moment, should it hang
    argv = [sys.executable, "-m", "pytest", "-p", "no:locust", "-p", "no:cacheprovider"]
    argv += [*inner_cluster_args, str(test_file)]
    out = pytester.path / "inner.log"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=pytester.path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Ctrl-C as in a terminal: a command a shell starts in the background without
            # job control (a CI runner's `cmd &`) ignores SIGINT, and its children inherit
            # that, so Python would never raise KeyboardInterrupt (seen: the inner pytest
            # slept on through the signal).
            preexec_fn=_default_sigint,
        )
    marker = pytester.path / "namespace.txt"
    try:

        def namespace_exists() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"inner pytest ended early:\n{out.read_text()}")
            if not marker.exists():
                return None
            name = marker.read_text()
            try:
                kube.core.read_namespace(name)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            return name

        name = wait_for(namespace_exists, what="the inner test's namespace", timeout=120)
        proc.send_signal(signum)
        code = _wait_or_dump(proc, out, timeout=180)
        log_text = out.read_text()
        assert code == exit_code, log_text
        assert said in log_text
        left = kube.core.list_namespace(label_selector=f"{RUN_ID_LABEL}={fresh_run_id}").items
        assert [ns.metadata.name for ns in left] == [], f"{name} was left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        delete_run_namespaces(kube, fresh_run_id)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_or_dump(proc: subprocess.Popen[bytes], out: Path, timeout: float) -> int:
    """Its exit code; if it does not end in time, every thread's stack (pytest's
    faulthandler prints them on SIGABRT) and its log go into the failure."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        raise AssertionError(
            f"the interrupted pytest did not end within {timeout:g} s; its log and stacks:\n"
            f"{out.read_text(errors='replace')[-20000:]}"
        ) from None


def test_private_kubeconfig_is_removed_after_the_session(
    pytester: pytest.Pytester, run_inner: object, inner_cluster_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        import stat

        def test_private(cluster):
            mode = stat.S_IMODE(cluster.kubeconfig.stat().st_mode)
            assert mode == 0o600
            assert ".private" in str(cluster.kubeconfig)
        """
    )
    result = run_inner(*inner_cluster_args)  # type: ignore[operator]
    result.assert_outcomes(passed=1)
    leftovers = [p for p in Path(pytester.path / "artifacts").rglob("*kubeconfig*")]
    assert leftovers == []


def _locust_children(parent: int) -> list[int]:
    """Pids of the Locust processes `parent` started (its children running locust)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if ppid == parent and "locust" in argv:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGTERM, 143, "terminated"),  # timeout, kill, a CI runner cancelling
        (signal.SIGINT, 130, "interrupted"),  # Ctrl-C
    ],
    ids=["sigterm", "sigint"],
)
@pytest.mark.parametrize(
    "phase, marker",
    [
        ("deploy", "deploying "),
        ("load", "steady load for"),
        ("disruption", "disruption delete-one-by-one under load"),
    ],
)
def test_a_signal_to_prove_at_each_phase_removes_everything_with_the_shells_exit_code(
    tmp_path: Path,
    cluster: object,
    kube: Kube,
    fresh_run_id: str,
    free_node_port: int,
    signum: signal.Signals,
    code: int,
    said: str,
    phase: str,
    marker: str,
    nginx_image_args: list[str],
) -> None:
    """What `timeout`, `kill`, a CI runner cancelling a job and Ctrl-C send, while the
    workload is deployed, under load, or while its pods go: the namespace and the
    Locust subprocess go, and the exit code is what a shell expects (issue 24)."""
    reports = tmp_path / "reports"
    manifests = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "manifests"
    argv = [sys.executable, "-m", "graceproof.cli", "prove", "-f", str(manifests),
            "--kubeconfig", str(cluster.kubeconfig), *nginx_image_args,  # type: ignore[attr-defined]
            "--no-control", "--run-id", fresh_run_id, "--report-dir", str(reports),
            "--node-port", str(free_node_port)]  # fmt: skip
    out = tmp_path / "prove.log"
    with out.open("wb") as log:
        # SIGINT as in a terminal (see _default_sigint).
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_default_sigint
        )
    try:

        def reached() -> bool | None:
            if proc.poll() is not None:
                raise AssertionError(f"prove ended early:\n{out.read_text()}")
            return True if marker in out.read_text() else None

        wait_for(reached, what=f"prove's {phase} phase", timeout=180, interval=0.05)
        locust = _locust_children(proc.pid)
        if phase != "deploy":
            assert locust, f"no Locust process in the {phase} phase"
        proc.send_signal(signum)
        exit_code = _wait_or_dump(proc, out, timeout=180)
        text = out.read_text()
        assert exit_code == code, text
        assert f"graceproof prove: {said}; what it made is removed" in text
        left = kube.core.list_namespace(label_selector=f"{RUN_ID_LABEL}={fresh_run_id}").items
        assert [ns.metadata.name for ns in left] == [], text
        assert [pid for pid in locust if _running(pid)] == [], "Locust outlived prove"
        assert not list(reports.glob("*.json")), "a result of an interrupted run"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        delete_run_namespaces(kube, fresh_run_id)
