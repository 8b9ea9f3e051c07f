"""The seams: hooks, workloads, disruptions and providers as small objects; scenario
ids that name every parameter; result names that are never reused."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from graceproof.config import build_options
from graceproof.disruptions import (
    DISRUPTIONS,
    DeleteOneByOne,
    DeleteWithGrace,
    Disruption,
    DisruptionContext,
    DrainNode,
    Evict,
    NodeShutdown,
    RollingUpdate,
    RolloutRestart,
    ScaleDown,
    disruption_named,
)
from graceproof.errors import (
    GraceproofError,
    LoadError,
    OptionError,
    ResultSchemaError,
    TimelineError,
    WorkloadSpecError,
)
from graceproof.hooks import HOOKS, ExecHook, HttpGetHook, NoHook, PreStopHook, SleepHook, as_hook
from graceproof.load import LoadSettings
from graceproof.providers import PROVIDERS, ClusterProvider, ExistingProvider, KindProvider
from graceproof.result_files import reserve_name
from graceproof.scenario import Scenario
from graceproof.workloads import DeployContext, SampleApp, Target, Workload, render


def test_every_error_graceproof_raises_on_purpose_is_a_graceproof_error() -> None:
    for cls in (LoadError, WorkloadSpecError, ResultSchemaError, TimelineError, OptionError):
        assert issubclass(cls, GraceproofError), cls
    # Still the builtin types callers caught before.
    assert issubclass(WorkloadSpecError, ValueError)
    assert issubclass(ResultSchemaError, ValueError)
    assert issubclass(LoadError, RuntimeError)


def test_timeline_error_names_each_lost_watch() -> None:
    err = TimelineError(["_watch_pods: ApiException: 500", "_watch_slices: boom"])
    assert "_watch_pods" in str(err) and "_watch_slices" in str(err)


@pytest.mark.parametrize(
    ("hook", "expected", "key"),
    [
        (NoHook(), "errors", None),
        (ExecHook(3), "no-errors", "exec"),
        (HttpGetHook(3), "no-errors", "httpGet"),
        (SleepHook(3), "no-errors", "sleep"),
    ],
)
def test_each_hook_renders_its_own_stanza_and_expectation(
    hook: PreStopHook, expected: str, key: str | None
) -> None:
    stanza = hook.lifecycle(8080)
    assert hook.expected == expected
    if key is None:
        assert stanza is None
    else:
        assert stanza is not None and list(stanza["preStop"]) == [key]
        assert hook.holds_s == 3


def test_hook_names_map_to_the_shipped_classes() -> None:
    assert set(HOOKS) == {"no-hook", "prestop-exec", "prestop-http", "prestop-sleep"}
    assert as_hook("prestop-sleep", 7) == SleepHook(7)
    with pytest.raises(WorkloadSpecError, match="unknown variant 'prestop-tcp'"):
        as_hook("prestop-tcp")


def test_a_hook_defined_elsewhere_renders_through_the_sample_app() -> None:
    @dataclass(frozen=True)
    class GrpcHealthHook(PreStopHook):
        name: ClassVar[str] = "prestop-custom"

        def lifecycle(self, app_port: int) -> dict[str, Any] | None:
            return {"preStop": {"exec": {"command": ["true"]}}}

    deployment, _ = render(GrpcHealthHook(), name="w", image="i:1", node_port=30085)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["lifecycle"] == {"preStop": {"exec": {"command": ["true"]}}}
    assert deployment["metadata"]["labels"]["graceproof.dev/variant"] == "prestop-custom"


def test_a_sleep_hook_longer_than_the_grace_period_is_refused() -> None:
    with pytest.raises(WorkloadSpecError, match="sleep_seconds"):
        SampleApp(SleepHook(40), grace_seconds=30)


def test_default_scenario_ids_stay_readable() -> None:
    sc = Scenario(SampleApp.variant("prestop-sleep"))
    assert sc.scenario_id == "prestop-sleep--delete-one-by-one--new"
    keepalive = Scenario(
        SampleApp.variant("no-hook"),
        disruption=RolloutRestart(),
        load=LoadSettings(connection="keepalive"),
    )
    assert keepalive.scenario_id == "no-hook--rollout-restart--keepalive"


def test_scenarios_that_differ_only_in_shutdown_mode_get_different_ids() -> None:
    # The defect of issue 10: both were prestop-sleep--delete-one-by-one--keepalive.
    load = LoadSettings(connection="keepalive")
    immediate = Scenario(SampleApp(SleepHook(5), shutdown_mode="immediate"), load=load)
    drain = Scenario(SampleApp(SleepHook(5), shutdown_mode="drain"), load=load)
    assert immediate.scenario_id == "prestop-sleep--delete-one-by-one--keepalive"
    assert drain.scenario_id.startswith("prestop-sleep--delete-one-by-one--keepalive--")
    assert drain.scenario_id != immediate.scenario_id


@pytest.mark.parametrize(
    "changed",
    [
        Scenario(SampleApp(SleepHook(6))),
        Scenario(SampleApp(SleepHook(5), replicas=2)),
        Scenario(SampleApp(SleepHook(5)), disruption=DeleteOneByOne(timeout_per_pod_s=60)),
        Scenario(SampleApp(SleepHook(5)), load=LoadSettings(users=20)),
        Scenario(SampleApp(SleepHook(5)), warmup_s=5),
        Scenario(SampleApp(SleepHook(5)), expected="errors"),
    ],
    ids=["sleep", "replicas", "disruption", "users", "warmup", "expected"],
)
def test_every_parameter_that_matters_changes_the_id(changed: Scenario) -> None:
    base = Scenario(SampleApp(SleepHook(5)))
    assert changed.scenario_id != base.scenario_id
    assert changed.scenario_id.startswith(base.scenario_id + "--")


def test_an_expectation_equal_to_the_workloads_keeps_the_id_readable() -> None:
    forced = Scenario(SampleApp(SleepHook(5)), DeleteWithGrace())
    assert forced.want == "no-errors"
    assert forced.scenario_id == "prestop-sleep--delete-grace--new"
    same = Scenario(SampleApp(SleepHook(5)), DeleteWithGrace(), expected="no-errors")
    assert same.scenario_id == forced.scenario_id
    overridden = Scenario(SampleApp(SleepHook(5)), DeleteWithGrace(), expected="errors")
    assert overridden.scenario_id.startswith("prestop-sleep--delete-grace--new--")
    assert Scenario(SampleApp(NoHook()), expected="no-errors").scenario_id.startswith(
        "no-hook--delete-one-by-one--new--"
    )


def test_names_and_ports_do_not_change_the_id() -> None:
    a = Scenario(SampleApp(SleepHook(5), node_port=30081, name="a"))
    b = Scenario(SampleApp(SleepHook(5), node_port=30089, name="b"))
    assert a.scenario_id == b.scenario_id


def test_ids_are_stable_across_processes() -> None:
    # A digest of canonical JSON, never hash(): the same scenario has the same id tomorrow.
    sc = Scenario(SampleApp(SleepHook(5), shutdown_mode="drain"))
    assert sc.scenario_id == Scenario(SampleApp(SleepHook(5), shutdown_mode="drain")).scenario_id
    assert len(sc.scenario_id.rsplit("--", 1)[1]) == 8


def test_the_result_gets_every_parameter() -> None:
    params = Scenario(SampleApp(ExecHook(4), replicas=2), disruption=ScaleDown(to=1)).parameters()
    assert params["workload"]["type"] == "SampleApp"
    assert params["workload"]["hook"] == {"type": "ExecHook", "sleep_seconds": 4}
    assert params["workload"]["replicas"] == 2
    assert params["disruption"] == {"kind": "scale-down", "to": 1, "timeout_s": 120.0}
    assert params["load"]["connection"] == "new"
    assert params["expected"] == "no-errors"


def test_the_expectation_comes_from_the_workload() -> None:
    assert Scenario(SampleApp(NoHook())).want == "errors"
    assert Scenario(SampleApp(HttpGetHook())).want == "no-errors"
    assert Scenario(SampleApp(NoHook()), expected="no-errors").want == "no-errors"


def test_a_workload_defined_elsewhere_is_one_subclass() -> None:
    @dataclass(frozen=True)
    class TeamService(Workload):
        replicas: int = 2

        def deploy(self, ctx: DeployContext) -> Target:
            raise AssertionError("not deployed in a unit test")

    sc = Scenario(TeamService(), disruption=RolloutRestart())
    assert sc.scenario_id == "team-service--rollout-restart--new"
    assert Scenario(TeamService(replicas=3)).scenario_id.startswith("team-service--")
    assert sc.want == "no-errors"


def test_disruptions_are_named_in_one_registry() -> None:
    assert {
        "delete-one-by-one": DeleteOneByOne,
        "rollout-restart": RolloutRestart,
        "scale-down": ScaleDown,
        "drain-node": DrainNode,
        "evict": Evict,
        "rolling-update": RollingUpdate,
        "delete-grace": DeleteWithGrace,
        "node-shutdown": NodeShutdown,
    } == DISRUPTIONS
    assert disruption_named("scale-down") == ScaleDown(to=1)
    with pytest.raises(WorkloadSpecError, match="unknown disruption 'drain'"):
        disruption_named("drain")


def test_a_disruption_defined_elsewhere_runs_with_its_context() -> None:
    @dataclass(frozen=True)
    class Nothing(Disruption):
        kind: ClassVar[str] = "nothing"

        def run(self, ctx: DisruptionContext) -> None:
            ctx.record.act("nothing", pod=None)

    assert Scenario(SampleApp(NoHook()), disruption=Nothing()).scenario_id == (
        "no-hook--nothing--new"
    )


def test_scale_down_to_a_negative_count_is_refused() -> None:
    with pytest.raises(WorkloadSpecError, match="to must be >= 0"):
        ScaleDown(to=-1)


def test_providers_are_named_in_one_registry() -> None:
    assert {"kind": KindProvider, "existing": ExistingProvider} == PROVIDERS
    assert all(issubclass(cls, ClusterProvider) for cls in PROVIDERS.values())


def test_each_provider_checks_its_own_options(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("apiVersion: v1\n")
    with pytest.raises(OptionError, match="applies to kind only"):
        build_options(
            {"gp_provider": "existing", "gp_kubeconfig": str(kubeconfig), "gp_k8s_version": "1.33"},
            {},
            cwd=tmp_path,
        )
    existing = build_options(
        {"gp_provider": "existing", "gp_kubeconfig": str(kubeconfig)}, {}, cwd=tmp_path
    )
    assert existing.k8s_version is None  # a version is a kind matter
    assert build_options({}, {}, cwd=tmp_path).k8s_version == "1.34"


def test_reserved_names_are_never_handed_out_twice(tmp_path: Path) -> None:
    first = reserve_name(tmp_path, "prestop-sleep--delete-one-by-one--new")
    second = reserve_name(tmp_path, "prestop-sleep--delete-one-by-one--new")
    assert first == "prestop-sleep--delete-one-by-one--new"
    assert second == "prestop-sleep--delete-one-by-one--new--2"
    (tmp_path / "other--x--new.json").write_text("{}")  # a result kept from an earlier run
    assert reserve_name(tmp_path, "other--x--new") == "other--x--new--2"


def test_concurrent_reservations_get_distinct_names(tmp_path: Path) -> None:
    names: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        name = reserve_name(tmp_path, "same")
        with lock:
            names.append(name)

    threads = [threading.Thread(target=take) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 16
