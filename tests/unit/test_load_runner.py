"""What every load runner gets from graceproof.load.runner.LoadRunner, proved on a fake
runner (no Locust, no cluster): cleanup after a failed start, the two waits, the command
line of each role and the LoadResult; and each placement's own reachability check."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from graceproof.errors import LoadError, WorkloadSpecError
from graceproof.load import InCluster, LoadSettings, LoadTimeout, LocustCrashed
from graceproof.load.runner import Collected, LoadRunner, LoadStatus
from graceproof.model import RequestRecord
from graceproof.workloads.base import Target

TARGET = Target("Deployment", "web", "app=web", "web", 0, 2, 30, pod_port=8080)


class FakeRunner(LoadRunner):
    """Plays back a list of statuses; records what the base asked of it."""

    poll_s = 0.01

    def __init__(self, statuses: list[LoadStatus], *, fail_start: bool = False) -> None:
        super().__init__(LoadSettings(users=2), 5.0, Path("r.jsonl"))
        self.python, self.locustfile = "python", Path("/lf/locustfile.py")
        self.address, self.port = "10.0.0.1", 80
        self.statuses, self.fail_start = statuses, fail_start
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")
        if self.fail_start:
            raise RuntimeError("pods refused")
        self._started = 1.0

    def status(self) -> LoadStatus:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def stop(self) -> None:
        self.calls.append("stop")

    def collect(self) -> Collected:
        return Collected(0, [RequestRecord(1.5, 0.01, True, 200)], problem=None)

    def teardown(self, failed: bool) -> None:
        self.calls.append(f"teardown(failed={failed})")

    def log_tail(self) -> str:
        return "the log"

    def command(self) -> list[str]:
        return self.locust_command("standalone")


def test_a_failed_start_is_torn_down_before_the_error_goes_on() -> None:
    run = FakeRunner([LoadStatus(0, None, False)], fail_start=True)
    with pytest.raises(RuntimeError, match="pods refused"), run:
        pass
    assert run.calls == ["start", "teardown(failed=True)"]
    ok = FakeRunner([LoadStatus(0, None, True)])
    with ok:
        pass
    assert ok.calls == ["start", "teardown(failed=False)"]


def test_the_waits_tell_a_crash_from_a_timeout_and_assemble_the_result() -> None:
    with FakeRunner([LoadStatus(0, None, False), LoadStatus(3, None, False)]) as run:
        assert run.wait_for_records(2, timeout_s=5) == 3
    with (
        FakeRunner([LoadStatus(1, "Locust exited with 3", True)]) as run,
        pytest.raises(LocustCrashed, match=r"exited with 3 after 1 request.*stderr:\nthe log"),
    ):
        run.wait_for_records(2, timeout_s=5)
    with (
        FakeRunner([LoadStatus(1, None, False)]) as run,
        pytest.raises(LoadTimeout, match=r"only 1 of 2 .*listening on http://10\.0\.0\.1:80"),
    ):
        run.wait_for_records(2, timeout_s=0.05)
    with FakeRunner([LoadStatus(0, None, False)]) as run, pytest.raises(LoadTimeout):
        run.wait(timeout_s=0.05)
    assert "stop" in run.calls  # a run that overran is stopped
    with FakeRunner([LoadStatus(5, None, False), LoadStatus(5, None, True)]) as run:
        result = run.wait()
    assert (result.total, result.port, result.stderr_tail) == (1, 80, "the log")
    assert result.command[result.command.index("--host") + 1] == "http://10.0.0.1:80"
    with pytest.raises(LoadError, match="not started"):
        FakeRunner([LoadStatus(0, None, True)]).wait()


def test_each_role_gets_its_own_locust_command_line() -> None:
    run = FakeRunner([LoadStatus(0, None, False)])
    single = run.locust_command("standalone")
    assert single[:5] == ["python", "-m", "locust", "-f", "/lf/locustfile.py"]
    assert "--headless" in single and "--master" not in single
    master = run.locust_command("master", master_port=5557, workers=3, workers_wait_s=90)
    assert master[master.index("--expect-workers") + 1] == "3"
    assert "--master-bind-host" not in master  # None: every address
    worker = run.locust_command("worker", master_host="10.0.0.9", master_port=5557)
    assert worker[worker.index("--master-host") + 1] == "10.0.0.9" and "--users" not in worker


def test_an_in_cluster_load_needs_a_ready_endpoint_to_reach(tmp_path: Path) -> None:
    ready: list[Any] = []

    def slices(*_: Any, **__: Any) -> Any:
        endpoint = SimpleNamespace(conditions=SimpleNamespace(ready=True))
        return SimpleNamespace(items=[SimpleNamespace(endpoints=ready and [endpoint])])

    port = SimpleNamespace(name="http", port=8080, target_port=8080)
    service = SimpleNamespace(spec=SimpleNamespace(cluster_ip="10.96.0.10", ports=[port]))
    kube: Any = SimpleNamespace(
        core=SimpleNamespace(read_namespaced_service=lambda *_, **__: service),
        discovery=SimpleNamespace(list_namespaced_endpoint_slice=slices),
    )
    placement = InCluster()
    with pytest.raises(WorkloadSpecError, match="service/web has no ready endpoint"):
        placement.check_endpoints(kube, "ns", TARGET, timeout_s=0)
    ready.append(True)
    placement.check_reachable(kube, "ns", TARGET, LoadSettings())
    service.spec.cluster_ip = "None"
    with pytest.raises(WorkloadSpecError, match="headless"):
        placement.check_reachable(kube, "ns", TARGET, LoadSettings())
