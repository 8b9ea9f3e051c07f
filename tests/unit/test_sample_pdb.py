"""The sample workload's PodDisruptionBudget and placement (spread, node selector):
rendered only when asked for, validated, in scenario ids only when set."""

from __future__ import annotations

from typing import Any

import pytest

from graceproof.amounts import check_int_or_percent
from graceproof.disruptions import RollingUpdate
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
    ("value", "over_100", "ok"),
    [
        (0, False, True),
        ("0%", False, True),
        ("100%", False, True),
        ("101%", False, False),
        ("150%", True, True),
        (-1, True, False),
        ("\u00b2", True, False),  # isdigit() says yes; int() and the API say no
        ("1\u00b2%", True, False),
        ("5 %", True, False),
        ("5%\n", True, False),
        (2.5, True, False),
        (None, True, False),
    ],
)
def test_one_int_or_percent_check_serves_budgets_and_strategies(
    value: object, over_100: bool, ok: bool
) -> None:
    if ok:
        check_int_or_percent("x", value, over_100=over_100)
        return
    with pytest.raises(WorkloadSpecError, match=r"^x must be"):
        check_int_or_percent("x", value, over_100=over_100)


def test_a_budget_and_a_strategy_refuse_the_same_value_in_the_same_words() -> None:
    with pytest.raises(WorkloadSpecError) as budget:
        Pdb(min_available="\u00b2")
    with pytest.raises(WorkloadSpecError) as strategy:
        RollingUpdate(max_unavailable="\u00b2")
    assert str(budget.value).split(" must be ")[1] == str(strategy.value).split(" must be ")[1]


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
        ({"max_unavailable": "120%"}, r"maxUnavailable\) must be at most 100%, not '120%'"),
        ({"min_available": "101%"}, r"minAvailable\) must be at most 100%"),
        ({"max_unavailable": "one"}, r"max_unavailable \(spec.maxUnavailable\)"),
        ({"min_available": True}, "must be an int or a percentage"),
        # Only ASCII digits, and no whitespace: the API server takes neither.
        ({"min_available": "\u00b2"}, r"not '\u00b2'$"),
        ({"min_available": "\u00b2%"}, "must be an int or a percentage"),
        ({"max_unavailable": "\u0663%"}, "must be an int or a percentage"),
        ({"max_unavailable": " 50%"}, r"not ' 50%'"),
        ({"max_unavailable": "50% "}, r"not '50% '"),
        ({"min_available": "2"}, r"write 2 \(an int\) or '2%'"),
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


@pytest.mark.parametrize("bad", [{}, "node-1", ["node-1"]])
def test_an_empty_or_non_mapping_node_selector_is_refused(bad: Any) -> None:
    with pytest.raises(
        WorkloadSpecError, match="SampleApp node_selector must be None or a non-empty mapping"
    ):
        SampleApp(SleepHook(5), node_selector=bad)


@pytest.mark.parametrize(
    ("bad", "entry"),
    [
        ({"": "x"}, "'': 'x'"),
        ({"k": 1}, "'k': 1"),
        ({"ok": "v", 7: "x"}, "7: 'x'"),
        ({"k": None}, "'k': None"),
    ],
)
def test_a_node_selector_entry_that_is_not_two_strings_is_named(
    bad: dict[Any, Any], entry: str
) -> None:
    with pytest.raises(WorkloadSpecError) as err:
        SampleApp(SleepHook(5), node_selector=bad)
    text = str(err.value)
    assert text.startswith("SampleApp node_selector must map node label names")
    assert f"the entry {entry} is not one" in text


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
