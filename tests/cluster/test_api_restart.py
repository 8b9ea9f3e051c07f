"""The API server restarts during a proof: the timeline says where it was blind, and
the verdict does not pass on a gap inside a termination window (issue 24, item 4).

Local cluster only (hack/local-cluster.sh): its API server is a host process whose pid
is in the state folder's pids/kube-apiserver.pid, so the test can restart it as `up`
started it (same command, environment, working folder and log file; the new pid goes
to the pid file). On kind it is a static pod inside a node container: skipped there.

What it expects. The restart begins as soon as the first pod of a DeleteOneByOne is
seen terminating (its preStop sleep still running). By then the disruption's only call
that is not retried, the deletion, has been answered; what follows (waiting for the
replacement, for the terminating pods to go) polls through `wait_for`, which takes a
refused or reset connection as "not yet". So the proof must end with a result, not an
exception: its timeline watches retried through the outage, the result carries their
gaps, one of them overlaps the first pod's termination window, and the verdict fails
naming it (whether or not requests failed too: while the API server is away, no
endpoint change reaches kube-proxy, so the load may also meet the exited pod). And
the test's namespace is gone afterwards, with no Locust process left. About 1.5 min.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from graceproof.disruptions import DeleteOneByOne
from graceproof.hooks import SleepHook
from graceproof.kube import Kube
from graceproof.measurement import ClusterInfo
from graceproof.namespaces import test_namespace
from graceproof.scenario import Scenario, run_scenario
from graceproof.waiting import namespace_gone, wait_for
from graceproof.workloads import SampleApp

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("GRACEPROOF_LOCAL_CLUSTER_DIR", REPO / ".local-cluster"))
PID_FILE = STATE / "pids" / "kube-apiserver.pid"
LOG_FILE = STATE / "logs" / "kube-apiserver.log"
LOCAL_SERVER = "https://127.0.0.1:6443"
# The bound of the recorder's retries is 60 s; `up` gives the API server 90 s to get
# ready from cold, a restart with etcd warm takes a few seconds.
READY_TIMEOUT_S = 90.0


def _apiserver_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return None
    return pid if argv0.endswith(b"kube-apiserver") else None


def _exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def _ready(kube: Kube) -> bool | None:
    """True once /readyz answers 200, with the kubeconfig's credentials (a refused
    connection or a 500 while it starts is `wait_for`'s to retry)."""
    client = kube.api_client
    method, url, headers, body, post = client.param_serialize(
        method="GET", resource_path="/readyz", auth_settings=["BearerToken"]
    )
    resp = client.call_api(method, url, headers, body, post, _request_timeout=5)
    return True if resp.status == 200 else None


def restart_apiserver(kube: Kube) -> dict[str, float]:
    """Stop the local cluster's API server with SIGTERM and start the same command again,
    detached as `up` started it; return when /readyz answers. Times of each step."""
    pid = _apiserver_pid()
    assert pid is not None, f"no running kube-apiserver in {PID_FILE}"
    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    env = dict(
        item.decode().split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if b"=" in item
    )
    cwd = os.readlink(f"/proc/{pid}/cwd")
    times = {"sigterm": time.time()}
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: True if _exited(pid) else None, what="kube-apiserver to exit", timeout=30)
    except Exception:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: True if _exited(pid) else None, what="kube-apiserver killed", timeout=10)
    times["exited"] = time.time()
    with LOG_FILE.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as `setsid` in up: it outlives this session
        )
    times["started"] = time.time()
    PID_FILE.write_text(f"{proc.pid}\n")
    wait_for(
        lambda: _ready(kube),
        what=f"the restarted kube-apiserver (pid {proc.pid}) to answer /readyz",
        timeout=READY_TIMEOUT_S,
        interval=0.5,
        describe=lambda: f"see {LOG_FILE}",
    )
    times["ready"] = time.time()
    return times


@pytest.fixture
def local_apiserver(kube: Kube) -> int:
    """The pid of the cluster's API server, when the cluster is the local one of hack/."""
    pid = _apiserver_pid()
    if kube.server.rstrip("/") != LOCAL_SERVER or pid is None:
        pytest.skip(
            f"restarts the API server of hack/local-cluster.sh ({PID_FILE}); this "
            f"cluster's is {kube.server}"
        )
    return pid


def _locust_children() -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and "locust" in cmdline:
            found.append(f"{stat.parent.name}: {cmdline}")
    return found


class _RestartOnFirstTermination(threading.Thread):
    """Restarts the API server once a pod of `namespace` is seen terminating."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__(name="restart-apiserver", daemon=True)
        self.kube, self.namespace = kube, namespace
        self.stop = threading.Event()
        self.terminating: str | None = None
        self.times: dict[str, float] = {}
        self.error: BaseException | None = None

    def _first_terminating(self) -> str | None:
        pods = self.kube.core.list_namespaced_pod(self.namespace, _request_timeout=5).items
        deleted = [p.metadata.name for p in pods if p.metadata.deletion_timestamp]
        return deleted[0] if deleted else None

    def run(self) -> None:
        try:
            while not self.stop.wait(0.1):
                self.terminating = self._first_terminating()
                if self.terminating:
                    self.times = restart_apiserver(self.kube)
                    return
        except BaseException as exc:  # the test says it
            self.error = exc


def test_a_restart_of_the_api_server_during_a_termination_is_a_gap_the_verdict_names(
    kube: Kube,
    local_apiserver: int,
    workload_image: str,
    free_node_port: int,
    fresh_run_id: str,
    tmp_path: Path,
) -> None:
    scenario = Scenario(
        SampleApp(SleepHook(8), replicas=2, node_port=free_node_port),
        disruption=DeleteOneByOne(),
    )
    info = ClusterInfo("existing", "graceproof-local", kube.server_version())
    with test_namespace(kube, fresh_run_id, "api-restart", lambda: False, wait=True) as ns:
        restarter = _RestartOnFirstTermination(kube, ns)
        restarter.start()
        try:
            # In tmp_path, not the session's report: this result is meant to fail, and
            # a green suite's summary has no FAIL row.
            result = run_scenario(
                kube, ns, scenario, image=workload_image, cluster=info, out_dir=tmp_path
            )
        finally:
            restarter.stop.set()
            restarter.join(timeout=READY_TIMEOUT_S + 45)
            # Whatever happened, the next tests need an API server.
            if _apiserver_pid() is None:
                restart_apiserver(kube)
        assert restarter.error is None, f"restarting the API server failed: {restarter.error}"
        assert restarter.terminating, "no pod was seen terminating: the restart never ran"
        path = result.write_json(tmp_path)
        print(f"restart {restarter.times}; {result.headline()}; {path}")

        (window,) = [w for w in result.windows if w.pod == restarter.terminating]
        assert result.gaps, f"the restart left no gap in the timeline: {result.headline()}"
        assert any(g.overlaps(window) for g in result.gaps), (result.gaps, window)
        # A gap spans the outage: it began before the old API server was gone (a call
        # that failed, or a watch it closed on its way out) and ended after the new
        # one was started (nothing can answer before).
        spanning = [
            g
            for g in result.gaps
            if g.start <= restarter.times["exited"] and g.end >= restarter.times["started"]
        ]
        assert spanning, (result.gaps, restarter.times)
        assert {"pods", "endpointslices"} <= {g.source for g in result.gaps}

        assert not result.verdict.passed, result.verdict.message
        message = result.verdict.message
        assert message.startswith("the timeline has"), message
        assert "inside termination windows" in message
        assert f"termination window of pod {restarter.terminating}" in message
        assert "watch was cut from +" in message
    # Nothing left behind: the namespace (with its pods and Service) is gone, and so is
    # the load's Locust process.
    namespace_gone(kube.core, ns).wait(timeout=5)
    assert _locust_children() == []
