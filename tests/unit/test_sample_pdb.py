"""The sample workload's PodDisruptionBudget and placement (spread, node selector):
rendered only when asked for, validated, in scenario ids only when set."""

from __future__ import annotations

from typing import Any

import pytest

from graceproof.errors import WorkloadSpecError
from graceproof.hooks import SleepHook
from graceproof.scenario import Scenario
from graceproof.sources import Doc
from graceproof.workloads import SampleApp, render
from graceproof.workloads.manifests import resolve
from graceproof.workloads.sample import SPREAD_TOPOLOGY_KEY, Pdb


def objects(app: SampleApp) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in app.manifests("img:1")}


def pod_spec(app: SampleApp) -> dict[str, Any]:
    spec: dict[str, Any] = objects(app)["Deployment"]["spec"]["template"]["spec"]
    return spec


def test_by_default_nothing_new_is_rendered() -> None:
    app = SampleApp(SleepHook(5))
    assert set(objects(app)) == {"Deployment", "Service"}
    assert "topologySpreadConstraints" not in pod_spec(app)
    assert "nodeSelector" not in pod_spec(app)


@pytest.mark.parametrize(
    ("pdb", "rule"),
    [
        (Pdb(min_available=2), {"minAvailable": 2}),
        (Pdb(max_unavailable="50%"), {"maxUnavailable": "50%"}),
    ],
)
def test_a_budget_is_rendered_over_the_apps_pods(pdb: Pdb, rule: dict[str, Any]) -> None:
    app = SampleApp(SleepHook(5), name="web", pdb=pdb, labels={"graceproof.dev/run": "r1"})
    budget = objects(app)["PodDisruptionBudget"]
    deployment = objects(app)["Deployment"]
    assert budget["apiVersion"] == "policy/v1"
    assert budget["metadata"]["name"] == "web"
    assert budget["metadata"]["labels"]["graceproof.dev/run"] == "r1"
    assert budget["spec"] == {**rule, "selector": deployment["spec"]["selector"]}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "set exactly one of min_available and max_unavailable"),
        ({"min_available": 1, "max_unavailable": 1}, "set exactly one"),
        ({"min_available": -1}, r"min_available \(spec.minAvailable\) must be >= 0"),
        ({"max_unavailable": "120%"}, r"from '0%' to '100%', not '120%'"),
        ({"max_unavailable": "one"}, r"max_unavailable \(spec.maxUnavailable\)"),
        ({"min_available": True}, "must be an int or a percentage"),
    ],
)
def test_a_budget_out_of_range_is_refused_naming_the_field(
    kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkloadSpecError, match=message):
        Pdb(**kw)


def test_spread_puts_one_replica_per_node_and_ignores_cordoned_nodes() -> None:
    (constraint,) = pod_spec(SampleApp(SleepHook(5), name="web", spread=True))[
        "topologySpreadConstraints"
    ]
    assert constraint == {
        "maxSkew": 1,
        "topologyKey": SPREAD_TOPOLOGY_KEY,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
        "nodeTaintsPolicy": "Honor",
    }


def test_a_node_selector_pins_the_replicas() -> None:
    pin = {SPREAD_TOPOLOGY_KEY: "node-1"}
    assert pod_spec(SampleApp(SleepHook(5), node_selector=pin))["nodeSelector"] == pin


@pytest.mark.parametrize("bad", [{}, {"": "x"}, {"k": 1}])
def test_a_bad_node_selector_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(WorkloadSpecError, match="node_selector must be None or a non-empty"):
        SampleApp(SleepHook(5), node_selector=bad)


def test_render_takes_the_same_options() -> None:
    docs = render(
        "prestop-sleep", name="w", image="i:1", node_port=30085, pdb=Pdb(max_unavailable=1)
    )
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "PodDisruptionBudget"]


def test_the_id_changes_only_when_a_budget_or_placement_is_set() -> None:
    base = Scenario(SampleApp(SleepHook(5)))
    assert base.scenario_id == "prestop-sleep--delete-one-by-one--new"
    variants = [
        SampleApp(SleepHook(5), pdb=Pdb(min_available=2)),
        SampleApp(SleepHook(5), pdb=Pdb(min_available=1)),
        SampleApp(SleepHook(5), pdb=Pdb(max_unavailable=1)),
        SampleApp(SleepHook(5), spread=True),
        SampleApp(SleepHook(5), node_selector={SPREAD_TOPOLOGY_KEY: "n1"}),
    ]
    ids = [Scenario(v).scenario_id for v in variants]
    assert all(i.startswith(base.scenario_id + "--") for i in ids)
    assert len(set(ids)) == len(ids)
    assert Scenario(SampleApp(SleepHook(5), pdb=None, spread=False)).scenario_id == base.scenario_id


def test_the_result_names_the_budget() -> None:
    params = Scenario(SampleApp(SleepHook(5), pdb=Pdb(min_available=2))).parameters()
    assert params["workload"]["pdb"] == {
        "type": "Pdb",
        "min_available": 2,
        "max_unavailable": None,
    }


def test_a_users_manifests_may_hold_a_budget() -> None:
    docs = render("prestop-sleep", name="w", image="i:1", node_port=30085, pdb=Pdb(min_available=1))
    resolved = resolve([Doc(d, f"app.yaml:{i}") for i, d in enumerate(docs)])
    assert "PodDisruptionBudget" in {d.kind for d in resolved.docs}
