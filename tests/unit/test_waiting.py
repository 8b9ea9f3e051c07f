from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace as NS
from typing import Any

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from graceproof import wait_loop, waiting
from graceproof.errors import WaitTimeout
from graceproof.waiting import (
    default_service_account,
    deployment_available,
    namespace_gone,
    pod_gone,
    pod_ready,
    wait_for,
)


def sequence(*results: Any) -> tuple[Callable[[], Any], list[int]]:
    """A probe returning (or raising) `results` in turn, then repeating the last one."""
    calls = [0]

    def probe() -> Any:
        item = results[min(calls[0], len(results) - 1)]
        calls[0] += 1
        if isinstance(item, BaseException):
            raise item
        return item

    return probe, calls


def test_returns_the_first_value_that_is_not_none() -> None:
    probe, calls = sequence(None, None, "ready", "later")
    assert wait_for(probe, what="x", timeout=5, interval=0.01) == "ready"
    assert calls[0] == 3


def test_falsy_values_other_than_none_count_as_done() -> None:
    probe, _ = sequence(None, 0)
    assert wait_for(probe, what="x", timeout=5, interval=0.01) == 0


def test_timeout_raises_with_what_last_state_and_hint_in_bounded_time() -> None:
    probe, calls = sequence(None)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        wait_for(
            probe,
            what="the thing",
            timeout=0.3,
            interval=0.05,
            describe=lambda: "3 of 4 replicas",
            hint="look at the pods",
        )
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5
    err = info.value
    assert err.what == "the thing" and err.timeout == 0.3
    assert err.last_state == "3 of 4 replicas"
    text = str(err)
    assert "0.3s waiting for the thing" in text
    assert "3 of 4 replicas" in text and "look at the pods" in text
    assert calls[0] >= 3


def test_last_probe_happens_at_the_deadline_not_an_interval_before() -> None:
    times: list[float] = []
    started = time.monotonic()

    def probe() -> None:
        times.append(time.monotonic() - started)

    with pytest.raises(WaitTimeout):
        wait_for(probe, what="x", timeout=0.5, interval=0.4)
    assert times[-1] >= 0.49


def test_zero_timeout_probes_once() -> None:
    probe, calls = sequence(None)
    with pytest.raises(WaitTimeout):
        wait_for(probe, what="x", timeout=0, interval=0.01)
    assert calls[0] == 1


@pytest.mark.parametrize(
    "error",
    [
        ApiException(status=503, reason="Service Unavailable"),
        ApiException(status=429, reason="Too Many Requests"),
        ApiException(status=500, reason="Internal"),
        ConnectionError("refused"),
        urllib3.exceptions.ProtocolError("reset"),
        urllib3.exceptions.MaxRetryError(None, "/version", None),  # type: ignore[arg-type]
    ],
)
def test_transient_errors_are_retried(error: BaseException) -> None:
    probe, calls = sequence(error, error, "ok")
    assert wait_for(probe, what="x", timeout=5, interval=0.01) == "ok"
    assert calls[0] == 3


@pytest.mark.parametrize(
    "error",
    [ApiException(status=404, reason="Not Found"), ApiException(status=403), ValueError("bug")],
)
def test_other_errors_propagate_at_once(error: BaseException) -> None:
    probe, calls = sequence(error, "ok")
    with pytest.raises(type(error)):
        wait_for(probe, what="x", timeout=5, interval=0.01)
    assert calls[0] == 1


def test_timeout_reports_the_last_transient_error() -> None:
    probe, _ = sequence(ApiException(status=503, reason="etcd leader changed"))
    with pytest.raises(WaitTimeout) as info:
        wait_for(probe, what="x", timeout=0.1, interval=0.02)
    assert isinstance(info.value.last_error, ApiException)
    assert "etcd leader changed" in str(info.value)
    assert info.value.__cause__ is info.value.last_error


def test_custom_transient_types_replace_the_defaults() -> None:
    probe, _ = sequence(KeyError("k"), "ok")
    assert wait_for(probe, what="x", timeout=5, interval=0.01, transient=(KeyError,)) == "ok"
    probe, _ = sequence(ConnectionError("c"), "ok")
    with pytest.raises(ConnectionError):
        wait_for(probe, what="x", timeout=5, interval=0.01, transient=(KeyError,))


def test_a_describe_that_fails_does_not_hide_the_timeout() -> None:
    def describe() -> str:
        raise RuntimeError("api down")

    probe, _ = sequence(None)
    with pytest.raises(WaitTimeout, match="could not describe the state: RuntimeError: api down"):
        wait_for(probe, what="x", timeout=0.05, interval=0.01, describe=describe)


def test_long_waits_report_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wait_loop, "PROGRESS_EVERY", 0.05)
    lines: list[str] = []
    probe, _ = sequence(None)
    with pytest.raises(WaitTimeout):
        wait_for(
            probe,
            what="pods",
            timeout=0.3,
            interval=0.02,
            describe=lambda: "0/1 ready",
            progress=lines.append,
        )
    assert 2 <= len(lines) <= 8
    assert all(line.startswith("still waiting for pods") and "0/1 ready" in line for line in lines)


def test_short_waits_report_no_progress() -> None:
    lines: list[str] = []
    probe, _ = sequence(None, "ok")
    wait_for(probe, what="pods", timeout=5, interval=0.01, progress=lines.append)
    assert lines == []


# Named conditions, against stand-ins for the API objects ---------------------------------
def not_found() -> ApiException:
    return ApiException(status=404, reason="Not Found")


def deployment(desired: int, updated: int, available: int, replicas: int | None = None) -> NS:
    return NS(
        metadata=NS(generation=2),
        spec=NS(replicas=desired),
        status=NS(
            observed_generation=2,
            replicas=desired if replicas is None else replicas,
            updated_replicas=updated,
            ready_replicas=available,
            available_replicas=available,
            conditions=[NS(type="Progressing", status="True", reason="NewReplicaSetAvailable")],
        ),
    )


class FakeApps:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def read_namespaced_deployment(self, name: str, namespace: str, **kw: Any) -> Any:
        item = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(item, BaseException):
            raise item
        return item


def test_deployment_available_waits_for_every_replica_updated_and_available() -> None:
    done = deployment(2, 2, 2)
    apps = FakeApps(not_found(), deployment(2, 1, 1), deployment(2, 2, 2, replicas=3), done)
    assert deployment_available(apps, "ns", "web").wait(5, interval=0.01) is done


def test_deployment_available_timeout_shows_the_replica_counts() -> None:
    apps = FakeApps(deployment(3, 3, 1))
    with pytest.raises(WaitTimeout) as info:
        deployment_available(apps, "ns", "web").wait(0.05, interval=0.01)
    state = info.value.last_state
    assert "deployment ns/web: desired 3" in state and "available 1" in state
    assert "Progressing=True" in state


def test_deployment_available_timeout_says_when_it_does_not_exist() -> None:
    with pytest.raises(WaitTimeout, match="deployment ns/web does not exist"):
        deployment_available(FakeApps(not_found()), "ns", "web").wait(0.05, interval=0.01)


def pod(ready: bool, waiting_reason: str | None = None, deleting: bool = False) -> NS:
    state = NS(
        waiting=NS(reason=waiting_reason, message="") if waiting_reason else None,
        terminated=None,
    )
    return NS(
        metadata=NS(name="p", deletion_timestamp="2025-01-01T00:00:00Z" if deleting else None),
        status=NS(
            phase="Running" if ready else "Pending",
            conditions=[NS(type="Ready", status="True" if ready else "False", reason=None)],
            container_statuses=[NS(name="app", state=state, restart_count=0)],
        ),
    )


class FakeCore:
    def __init__(self, **answers: list[Any]) -> None:
        self.answers = answers

    def _next(self, key: str) -> Any:
        seq = self.answers[key]
        item = seq.pop(0) if len(seq) > 1 else seq[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def read_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> Any:
        return self._next("pod")

    def read_namespace(self, name: str, **kw: Any) -> Any:
        return self._next("namespace")

    def read_namespaced_service_account(self, name: str, namespace: str, **kw: Any) -> Any:
        return self._next("sa")


def test_pod_ready_returns_the_pod_once_ready() -> None:
    ready = pod(True)
    core = FakeCore(pod=[not_found(), pod(False), ready])
    assert pod_ready(core, "ns", "p").wait(5, interval=0.01) is ready


def test_pod_ready_timeout_shows_why_the_container_waits() -> None:
    core = FakeCore(pod=[pod(False, waiting_reason="ImagePullBackOff")])
    with pytest.raises(WaitTimeout) as info:
        pod_ready(core, "ns", "p").wait(0.05, interval=0.01)
    assert "app: waiting (ImagePullBackOff" in info.value.last_state
    assert "IfNotPresent" in str(info.value)


def test_pod_gone_is_true_on_404_and_describes_a_terminating_pod() -> None:
    assert pod_gone(FakeCore(pod=[pod(True), not_found()]), "ns", "p").wait(5, interval=0.01)
    with pytest.raises(WaitTimeout, match=r"still exists: .*terminating since"):
        pod_gone(FakeCore(pod=[pod(True, deleting=True)]), "ns", "p").wait(0.05, interval=0.01)


def test_namespace_gone_waits_for_404_and_shows_its_conditions() -> None:
    terminating = NS(
        status=NS(
            phase="Terminating",
            conditions=[
                NS(type="NamespaceContentRemaining", status="True", reason="SomeResourcesRemain")
            ],
        )
    )
    assert namespace_gone(FakeCore(namespace=[terminating, not_found()]), "gp-x").wait(
        5, interval=0.01
    )
    with pytest.raises(WaitTimeout) as info:
        namespace_gone(FakeCore(namespace=[terminating]), "gp-x").wait(0.05, interval=0.01)
    assert "Terminating" in info.value.last_state
    assert "SomeResourcesRemain" in info.value.last_state


def test_default_service_account_waits_until_it_exists() -> None:
    sa = NS(metadata=NS(name="default"))
    core = FakeCore(sa=[not_found(), ApiException(status=503), sa])
    assert default_service_account(core, "ns").wait(5, interval=0.01) is sa


def _node(name: str, ready: bool) -> Any:
    status = "True" if ready else "False"
    return NS(metadata=NS(name=name), status=NS(conditions=[NS(type="Ready", status=status)]))


class FakeNodes:
    """list_node answers from a list of node lists, the last one repeated."""

    def __init__(self, *answers: list[Any]) -> None:
        self.answers = list(answers)

    def list_node(self, **_: Any) -> Any:
        items = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return NS(items=items)


def test_nodes_ready_waits_for_the_count_and_for_every_node_ready() -> None:
    cp, w1, w2 = _node("cp", True), _node("w1", True), _node("w2", True)
    core = FakeNodes([cp], [cp, w1, _node("w2", False)], [cp, w1, w2])
    assert waiting.nodes_ready(core, 3).wait(5, interval=0.01) == [cp, w1, w2]


def test_nodes_ready_times_out_naming_each_node_and_its_state() -> None:
    core = FakeNodes([_node("cp", True), _node("w1", False)])
    with pytest.raises(WaitTimeout, match="2 of 3 nodes registered: cp Ready, w1 NotReady"):
        waiting.nodes_ready(core, 3).wait(0.05, interval=0.01)


def test_a_condition_polls_at_its_own_interval_unless_the_wait_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[float] = []

    def recording_wait_for(probe: Any, **kw: Any) -> Any:
        seen.append(kw["interval"])
        return True

    monkeypatch.setattr(wait_loop, "wait_for", recording_wait_for)
    condition = wait_loop.Condition("x", lambda: True, lambda: "", interval=0.2)
    condition.wait(1)
    condition.wait(1, interval=0.5)
    wait_loop.Condition("y", lambda: True, lambda: "").wait(1)
    assert seen == [0.2, 0.5, 0.5]


def test_a_deploy_looks_at_its_workload_every_fifth_of_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing is measured while a proof deploys: a half-second poll only cost time.
    target = NS(kind="Deployment", name="web", ref="deployment/web", selector="app=web")
    condition = waiting.workload_available(NS(apps=NS()), "ns", target)
    assert condition.interval == 0.2
