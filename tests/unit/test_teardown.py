"""Namespace teardown off a proof's critical path: deleted at once, waited for at the
end of the run (bounded, naming what would not go), and never a NodePort still held
by a Service being deleted (tests/cluster/test_fixtures.py proves it on a cluster)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from graceproof import cli_prove, proving
from graceproof.errors import WaitTimeout
from graceproof.namespaces import delete_namespaces, reap_run_namespaces


def _service(name: str, node_port: int | None) -> Any:
    return NS(metadata=NS(name=name), spec=NS(ports=[NS(node_port=node_port)]))


def _namespace(name: str) -> Any:
    return NS(metadata=NS(name=name, deletion_timestamp=None, labels={}))


class FakeCore:
    """Namespaces and Services of a fake API server; a Service listed in `held` stays
    `held[name]` more lists after its deletion (a finalizer), a namespace in `stuck`
    never goes."""

    def __init__(
        self,
        names: list[str],
        *,
        held: dict[str, int] | None = None,
        stuck: tuple[str, ...] = (),
        reads_until_gone: int = 1,
    ) -> None:
        self.namespaces = list(names)
        self.services = {n: [_service("web", 30085)] for n in names}
        self.held = dict(held or {})
        self.stuck = stuck
        self.reads = {n: reads_until_gone for n in names}
        self.calls: list[str] = []

    def delete_namespace(self, name: str, **kw: Any) -> None:
        self.calls.append(f"delete {name}")

    def delete_collection_namespaced_service(self, name: str, **kw: Any) -> None:
        self.services[name] = [s for s in self.services.get(name, []) if name in self.held]

    def delete_collection_namespaced_pod(self, name: str, **kw: Any) -> None:
        assert kw["grace_period_seconds"] == 0

    def list_namespaced_service(self, name: str, **kw: Any) -> Any:
        self.calls.append(f"list services {name}")
        if name in self.held:
            self.held[name] -= 1
            if self.held[name] < 0:
                del self.held[name]
                self.services[name] = []
        return NS(items=self.services.get(name, []))

    def read_namespace(self, name: str, **kw: Any) -> Any:
        self.calls.append(f"read {name}")
        if name in self.stuck:
            return _namespace(name)
        self.reads[name] -= 1
        if self.reads[name] < 0:
            raise ApiException(status=404)
        return _namespace(name)

    def list_namespace(self, **kw: Any) -> Any:
        return NS(items=[_namespace(n) for n in self.namespaces])


def _kube(core: FakeCore) -> Any:
    return NS(core=core)


def test_teardown_without_waiting_makes_its_calls_and_returns_at_once() -> None:
    core = FakeCore(["gp-a"])
    delete_namespaces(_kube(core), ["gp-a"], wait=False)
    # One look at the Services (their NodePorts are free), no wait for the namespace.
    assert core.calls == ["delete gp-a", "list services gp-a"]


def test_teardown_waits_for_a_service_a_finalizer_keeps_as_it_holds_its_node_port() -> None:
    core = FakeCore(["gp-a"], held={"gp-a": 2})
    delete_namespaces(_kube(core), ["gp-a"], wait=False)
    # Listed until the Service went (the third list); the namespace never waited for.
    assert core.calls.count("list services gp-a") == 3
    assert not any(c.startswith("read") for c in core.calls)


def test_a_service_without_a_node_port_held_by_a_finalizer_is_not_waited_for() -> None:
    core = FakeCore(["gp-a"], held={"gp-a": 100})
    core.services["gp-a"] = [_service("internal", None)]
    delete_namespaces(_kube(core), ["gp-a"], wait=False)
    assert core.calls.count("list services gp-a") == 1


def test_the_end_of_a_run_waits_for_every_namespace_deleted_without_waiting() -> None:
    core = FakeCore(["gp-a", "gp-b"], reads_until_gone=3)
    assert reap_run_namespaces(_kube(core), "r1", timeout=10) == []
    assert core.reads == {"gp-a": -1, "gp-b": -1}  # each read until it was gone


def test_a_namespace_that_would_not_go_is_named_in_a_warning_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = FakeCore(["gp-a", "gp-stuck"], stuck=("gp-stuck",))
    with caplog.at_level(logging.WARNING):
        assert reap_run_namespaces(_kube(core), "r1", timeout=0.3) == ["gp-a", "gp-stuck"]
    said = caplog.text
    assert "gp-stuck" in said and "graceproof clean --run-id r1" in said


# graceproof prove ----------------------------------------------------------------------
def _result(name: str) -> Any:
    return NS(write_json=lambda out: out / f"{name}.json", name=name)


def _fake_proof(monkeypatch: pytest.MonkeyPatch, events: list[str]) -> None:
    @contextmanager
    def test_namespace(
        kube: Any, run_id: str, label: str, keep: Any, *, wait: bool
    ) -> Iterator[str]:
        events.append(f"create {label}")
        yield f"gp-{label}"
        events.append(f"delete {label} wait={wait}")

    def run_scenario(kube: Any, namespace: str, sc: Any, **kw: Any) -> Any:
        assert kw["namespace_s"] >= 0
        events.append(f"run in {namespace}")
        return _result(namespace)

    monkeypatch.setattr(proving, "test_namespace", test_namespace)
    monkeypatch.setattr(proving, "run_scenario", run_scenario)
    monkeypatch.setattr(
        proving, "wait_namespaces_gone", lambda kube, names: events.append(f"wait {names}")
    )


def _workload(hooks: int) -> Any:
    return NS(
        resolved=NS(hooks=hooks, workload=NS(ref="deployment/web")),
        without_hooks=lambda: NS(label="control"),
        label="hooked",
    )


@pytest.mark.parametrize("wait_deleted", [True, False])
def test_the_hooked_run_does_not_wait_for_the_controls_namespace_to_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wait_deleted: bool
) -> None:
    events: list[str] = []
    _fake_proof(monkeypatch, events)
    monkeypatch.setattr(proving, "Scenario", lambda w, **kw: NS(workload=w))
    proving.prove_with_control(
        NS(),
        _workload(hooks=1),
        disruption=NS(),
        load=NS(),
        run_id="r1",
        cluster=NS(),
        out_dir=tmp_path,
        wait_deleted=wait_deleted,
    )
    end = ["wait ['gp-control', 'gp-hooked']"] if wait_deleted else []
    assert events == [
        "create control",
        "run in gp-control",
        "delete control wait=False",
        "create hooked",
        "run in gp-hooked",
        "delete hooked wait=False",
        *end,
    ]


class _Provider:
    def __init__(self, deletes_cluster: bool) -> None:
        self.deletes_cluster = deletes_cluster


@pytest.mark.parametrize("failure", [None, KeyboardInterrupt])
def test_prove_reaps_the_runs_namespaces_at_its_end_also_after_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, failure: type[BaseException] | None
) -> None:
    reaped: list[str] = []
    monkeypatch.setattr(cli_prove, "reap_run_namespaces", lambda kube, rid: reaped.append(rid))
    with (
        pytest.raises(KeyboardInterrupt) if failure else _nothing(),
        cli_prove._reaped(_Provider(False), NS(), "r1"),  # type: ignore[arg-type]
    ):
        if failure:
            raise failure
    assert reaped == ["r1"]


def test_prove_does_not_wait_for_namespaces_of_a_cluster_it_deletes_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_prove, "reap_run_namespaces", _must_not_be_called)
    with cli_prove._reaped(_Provider(True), NS(), "r1"):  # type: ignore[arg-type]
        pass


def test_a_failed_reap_is_a_warning_that_hides_neither_verdict_nor_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreachable(kube: Any, run_id: str) -> None:
        raise WaitTimeout("namespaces", 1, "still present: gp-x")

    monkeypatch.setattr(cli_prove, "reap_run_namespaces", unreachable)
    with (
        caplog.at_level(logging.WARNING, logger="graceproof"),
        cli_prove._reaped(_Provider(False), NS(), "r1"),  # type: ignore[arg-type]
    ):
        pass
    assert "gp-x" in caplog.text and "graceproof clean --run-id r1" in caplog.text


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _must_not_be_called(*args: Any, **kw: Any) -> None:
    raise AssertionError("Must not be called!")
