"""The eviction, drain, rolling-update and grace disruptions against a fake API.

The fake holds pods, nodes and PodDisruptionBudgets as the kubernetes client's own
models and behaves as the API server does for what these disruptions touch: an
accepted eviction marks the pod terminating (a deletion timestamp) for a moment before
it is gone, and its controller starts a Ready replacement on a schedulable node its
nodeSelector allows; a refused one (429) changes nothing. It never reaches a cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
import urllib3.exceptions
from kubernetes.client import (
    V1DeleteOptions,
    V1Eviction,
    V1LabelSelector,
    V1LabelSelectorRequirement,
    V1Node,
    V1NodeSpec,
    V1ObjectMeta,
    V1OwnerReference,
    V1Pod,
    V1PodCondition,
    V1PodDisruptionBudget,
    V1PodDisruptionBudgetSpec,
    V1PodDisruptionBudgetStatus,
    V1PodSpec,
    V1PodStatus,
)
from kubernetes.client.exceptions import ApiException

from graceproof.action_log import DisruptionRecord
from graceproof.disruptions import (
    DeleteWithGrace,
    DisruptionContext,
    DrainNode,
    Evict,
    RollingUpdate,
)
from graceproof.disruptions.eviction import selects
from graceproof.disruptions.rolling import ROLLOUT_ENV
from graceproof.errors import EvictionRefusedError, WaitTimeout, WorkloadSpecError
from graceproof.hooks import NoHook, SleepHook
from graceproof.kube import Kube
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp, Target

NS = "gp-test"
LABELS = {"app": "web"}
FAST = {"timeout_s": 0.3, "retry_interval_s": 0.01}  # bounded, and quick in a unit test
PDB_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


def api_error(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="refused")
    exc.body = json.dumps({"kind": "Status", "message": message, "code": status})
    return exc


def make_pod(
    name: str,
    node: str,
    *,
    labels: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
) -> V1Pod:
    return V1Pod(
        metadata=V1ObjectMeta(
            name=name,
            namespace=NS,
            uid=f"uid-{name}",
            labels=dict(labels or LABELS),
            owner_references=[OWNED],
        ),
        spec=V1PodSpec(containers=[], node_name=node, node_selector=node_selector),
        status=V1PodStatus(conditions=[V1PodCondition(type="Ready", status="True")]),
    )


# Every pod of the fakes is the target's: its ReplicaSet's controller is deployment/web
# (graceproof.owners keeps only such pods; tests/unit/test_owners.py covers the rest).
OWNED = V1OwnerReference(
    api_version="apps/v1", kind="ReplicaSet", name="web-rs", uid="uid-rs", controller=True
)
WEB_RS = SimpleNamespace(
    metadata=V1ObjectMeta(
        name="web-rs",
        owner_references=[
            V1OwnerReference(
                api_version="apps/v1", kind="Deployment", name="web", uid="uid-d", controller=True
            )
        ],
    )
)


def list_replica_sets(namespace: str, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(items=[WEB_RS])


def make_node(name: str, *, cordoned: bool = False) -> V1Node:
    return V1Node(
        metadata=V1ObjectMeta(name=name, labels={"kubernetes.io/hostname": name}),
        spec=V1NodeSpec(unschedulable=cordoned),
    )


def make_pdb(
    name: str, selector: V1LabelSelector | None, allowed: int = 0
) -> V1PodDisruptionBudget:
    return V1PodDisruptionBudget(
        metadata=V1ObjectMeta(name=name, namespace=NS),
        spec=V1PodDisruptionBudgetSpec(min_available=3, selector=selector),
        status=V1PodDisruptionBudgetStatus(
            current_healthy=3, desired_healthy=3, disruptions_allowed=allowed, expected_pods=3
        ),
    )


@dataclass
class FakeCluster:
    """core, apps and policy of one namespace, recording every call in order."""

    pods: dict[str, V1Pod]
    nodes: dict[str, V1Node]
    pdbs: list[V1PodDisruptionBudget] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)  # pod -> 429s before a 201
    evict_error: ApiException | None = None  # answered to every eviction when set
    patch_node_error: ApiException | None = None  # answered to the uncordon when set
    cordon_error: ApiException | None = None  # answered to the cordon when set
    pdb_error: BaseException | None = None  # raised by the listing of budgets when set
    replace: bool = True  # whether a controller starts a replacement somewhere
    on_cordon: list[V1Pod] = field(default_factory=list)  # bound just before the cordon
    linger: int = 1  # listings that still show an evicted pod, terminating
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    made: int = 0
    terminating: dict[str, int] = field(default_factory=dict)  # pod -> listings left

    # core ------------------------------------------------------------------------
    def list_namespaced_pod(self, namespace: str, **kw: Any) -> SimpleNamespace:
        assert namespace == NS
        for name, left in list(self.terminating.items()):
            if left > 0:
                self.terminating[name] = left - 1
                continue
            del self.terminating[name]
            self.pods.pop(name)
            self.calls.append(("gone", name))
        items = list(self.pods.values())
        if kw.get("label_selector"):
            key, _, value = kw["label_selector"].partition("=")
            items = [p for p in items if (p.metadata.labels or {}).get(key) == value]
        return SimpleNamespace(items=items)

    def list_node(self, **kw: Any) -> SimpleNamespace:
        return SimpleNamespace(items=list(self.nodes.values()))

    def patch_node(self, name: str, body: dict[str, Any], **kw: Any) -> None:
        cordon = body["spec"]["unschedulable"]
        self.calls.append(("patch_node", name, cordon))
        error = self.cordon_error if cordon else self.patch_node_error
        if error is not None:
            raise error
        self.nodes[name].spec.unschedulable = cordon
        if cordon:
            self.pods.update((p.metadata.name, p) for p in self.on_cordon)

    def create_namespaced_pod_eviction(
        self, name: str, namespace: str, body: V1Eviction, **kw: Any
    ) -> V1Eviction:
        self.calls.append(("evict", name))
        self.bodies.append(body)
        if self.evict_error is not None:
            raise self.evict_error
        if name not in self.pods:
            raise api_error(404, f'pods "{name}" not found')
        if self.refusals.get(name, 0) > 0:
            self.refusals[name] -= 1
            raise api_error(429, PDB_MESSAGE)
        self._end(name, self.linger)
        return body

    def delete_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> None:
        self.calls.append(("delete", name, kw.get("body")))
        force = kw.get("body") == V1DeleteOptions(grace_period_seconds=0)
        self._end(name, 0 if force else self.linger)

    def _end(self, name: str, linger: int) -> None:
        """The pod terminates: shown with a deletion timestamp for `linger` more
        listings, then gone. When a schedulable node its nodeSelector allows exists, a
        Ready replacement runs there at once."""
        pod = self.pods[name]
        if linger > 0:
            pod.metadata.deletion_timestamp = datetime.now(UTC)
            self.terminating[name] = linger - 1
        else:
            self.pods.pop(name)
        want = pod.spec.node_selector or {}
        free = sorted(
            n
            for n, node in self.nodes.items()
            if not node.spec.unschedulable
            and all(node.metadata.labels.get(k) == v for k, v in want.items())
        )
        if self.replace and free:
            self.made += 1
            new = make_pod(
                f"web-new-{self.made}", free[-1], labels=pod.metadata.labels, node_selector=want
            )
            self.pods[new.metadata.name] = new

    # policy ----------------------------------------------------------------------
    def list_namespaced_replica_set(self, namespace: str, **kw: Any) -> SimpleNamespace:
        return list_replica_sets(namespace, **kw)

    def list_namespaced_pod_disruption_budget(self, namespace: str, **kw: Any) -> SimpleNamespace:
        if self.pdb_error is not None:
            raise self.pdb_error
        return SimpleNamespace(items=list(self.pdbs))


def context(cluster: FakeCluster, apps: Any = None, kind: str = "Deployment") -> DisruptionContext:
    kube = SimpleNamespace(core=cluster, policy=cluster, apps=apps or cluster)
    target = Target(
        kind=kind,
        name="web",
        selector="app=web",
        service="web",
        node_port=30085,
        replicas=len(cluster.pods),
        grace_seconds=30,
    )
    return DisruptionContext(cast(Kube, kube), NS, target, DisruptionRecord("test", 0.0))


def actions(ctx: DisruptionContext, *names: str) -> list[tuple[Any, ...]]:
    """(action, pod or node, status) of the recorded actions, in order."""
    return [
        (a["action"], a.get("pod") or a.get("node"), a.get("status"))
        for a in ctx.record.actions
        if not names or a["action"] in names
    ]


def two_nodes(**kw: Any) -> FakeCluster:
    pods = [
        make_pod("web-a1", "node-a"),
        make_pod("web-a2", "node-a"),
        make_pod("web-b1", "node-b"),
    ]
    nodes = {n: make_node(n) for n in ("node-a", "node-b")}
    return FakeCluster({p.metadata.name: p for p in pods}, nodes, **kw)


# the Eviction API ---------------------------------------------------------------------
def test_an_eviction_refused_by_a_budget_is_retried_until_accepted() -> None:
    cluster = two_nodes(refusals={"web-a1": 2})
    ctx = context(cluster)
    Evict(pods=1, **FAST).run(ctx)
    assert actions(ctx) == [
        ("evict", "web-a1", 429),
        ("evict", "web-a1", 429),
        ("evict", "web-a1", 201),
        ("replacement_ready", None, None),
    ]
    refused = ctx.record.actions[0]
    assert refused["node"] == "node-a" and refused["reason"] == PDB_MESSAGE
    assert "web-a1" not in cluster.pods


def test_the_eviction_keeps_the_pods_own_grace_period() -> None:
    cluster = two_nodes()
    Evict(**FAST).run(context(cluster))
    body = cluster.bodies[0]
    assert (body.api_version, body.kind, body.metadata.name) == ("policy/v1", "Eviction", "web-a1")
    assert body.delete_options is None  # no grace period override


def test_evict_takes_pods_one_at_a_time_each_after_its_replacement() -> None:
    cluster = two_nodes()
    ctx = context(cluster)
    Evict(pods=2, **FAST).run(ctx)
    assert actions(ctx) == [
        ("evict", "web-a1", 201),
        ("replacement_ready", None, None),
        ("evict", "web-a2", 201),
        ("replacement_ready", None, None),
    ]


def test_an_eviction_refused_until_the_timeout_names_the_budget_and_its_status() -> None:
    selecting = make_pdb("web-pdb", V1LabelSelector(match_labels=LABELS))
    other = make_pdb("db-pdb", V1LabelSelector(match_labels={"app": "db"}))
    cluster = two_nodes(refusals={"web-a1": 10_000}, pdbs=[other, selecting])
    ctx = context(cluster)
    with pytest.raises(EvictionRefusedError) as err:
        Evict(**FAST).run(ctx)
    text = str(err.value)
    assert f"pod {NS}/web-a1" in text and "HTTP 429" in text and PDB_MESSAGE in text
    assert (
        "PodDisruptionBudget web-pdb (minAvailable=3): currentHealthy=3, desiredHealthy=3, "
        "disruptionsAllowed=0, expectedPods=3"
    ) in text
    assert "db-pdb" not in text
    assert "lower minAvailable" in text
    assert err.value.attempts == len(actions(ctx, "evict")) >= 2
    assert isinstance(err.value, WorkloadSpecError)  # bad input: the budget must change


def test_a_429_without_a_budget_says_the_api_server_throttled() -> None:
    cluster = two_nodes(refusals={"web-a1": 10_000})
    with pytest.raises(EvictionRefusedError, match=r"no PodDisruptionBudget .* selects the pod"):
        Evict(**FAST).run(context(cluster))


def test_another_api_error_stops_the_eviction_at_once_and_is_recorded() -> None:
    two = "This pod has more than one PodDisruptionBudget"
    cluster = two_nodes(evict_error=api_error(500, two))
    ctx = context(cluster)
    with pytest.raises(ApiException):
        Evict(**FAST).run(ctx)
    assert actions(ctx) == [("evict", "web-a1", 500)]


def test_a_pod_already_gone_counts_as_evicted() -> None:
    cluster = two_nodes()
    ctx = context(cluster)
    pod = cluster.pods["web-a1"]
    cluster.pods.pop("web-a1")
    from graceproof.disruptions.eviction import evict_pod

    evict_pod(ctx, pod, timeout=0.3, interval=0.01)
    assert actions(ctx) == [("evict", "web-a1", 404)]


def test_evicting_more_pods_than_serve_is_refused_before_any_eviction() -> None:
    cluster = two_nodes()
    with pytest.raises(WorkloadSpecError, match="pods=4, but deployment/web has 3 serving"):
        Evict(pods=4).run(context(cluster))
    assert cluster.calls == []


@pytest.mark.parametrize("kw", [{"pods": 0}, {"timeout_s": 0}, {"retry_interval_s": -1}])
def test_evict_parameters_out_of_range_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(WorkloadSpecError, match="evict: "):
        Evict(**kw)


def test_label_selectors_match_as_the_api_server_matches_them() -> None:
    labels = {"app": "web", "tier": "front"}
    req = V1LabelSelectorRequirement
    assert selects(V1LabelSelector(), labels)  # empty: every pod
    assert not selects(None, labels)  # null: no pod (policy/v1)
    assert selects(V1LabelSelector(match_labels={"app": "web"}), labels)
    assert not selects(V1LabelSelector(match_labels={"app": "db"}), labels)
    cases = {
        ("In", ("front", "back")): True,
        ("In", ("back",)): False,
        ("NotIn", ("back",)): True,
        ("NotIn", ("front",)): False,
        ("Exists", ()): True,
        ("DoesNotExist", ()): False,
    }
    for (op, values), want in cases.items():
        sel = V1LabelSelector(match_expressions=[req(key="tier", operator=op, values=list(values))])
        assert selects(sel, labels) is want, op


# drain-node -------------------------------------------------------------------------
def test_drain_cordons_evicts_the_targets_pods_on_the_node_then_uncordons() -> None:
    cluster = two_nodes()
    other_app = make_pod("db-1", "node-a", labels={"app": "db"})
    cluster.pods["db-1"] = other_app
    ctx = context(cluster)
    DrainNode(**FAST).run(ctx)  # node-a holds most (2) of the target's pods
    assert cluster.calls == [
        ("patch_node", "node-a", True),
        ("evict", "web-a1"),
        ("evict", "web-a2"),
        # The uncordon waits until the evicted pods have finished terminating.
        ("gone", "web-a1"),
        ("gone", "web-a2"),
        ("patch_node", "node-a", False),
    ]
    assert actions(ctx) == [
        ("cordon", "node-a", None),
        ("evict", "web-a1", 201),
        ("evict", "web-a2", 201),
        ("replacements_ready", "node-a", None),
        ("uncordon", "node-a", None),
    ]
    assert "db-1" in cluster.pods  # not the target's: left alone
    assert {p.spec.node_name for p in cluster.pods.values() if p.metadata.labels == LABELS} == {
        "node-b"
    }


def test_drain_retries_each_pod_while_the_budget_refuses() -> None:
    cluster = two_nodes(refusals={"web-a2": 3})
    ctx = context(cluster)
    DrainNode(node="node-a", **FAST).run(ctx)
    assert [s for a, p, s in actions(ctx, "evict") if p == "web-a2"] == [429, 429, 429, 201]
    assert actions(ctx)[-1] == ("uncordon", "node-a", None)


def test_drain_refused_until_the_timeout_names_the_budget_and_still_uncordons() -> None:
    cluster = two_nodes(
        refusals={"web-a1": 10_000}, pdbs=[make_pdb("web", V1LabelSelector(match_labels=LABELS))]
    )
    ctx = context(cluster)
    with pytest.raises(
        EvictionRefusedError, match=r"PodDisruptionBudget web .*disruptionsAllowed=0"
    ):
        DrainNode(node="node-a", **FAST).run(ctx)
    assert cluster.calls[-1] == ("patch_node", "node-a", False)
    assert cluster.nodes["node-a"].spec.unschedulable is False
    assert actions(ctx)[-1] == ("uncordon", "node-a", None)


def test_draining_the_only_schedulable_node_under_a_budget_says_so() -> None:
    cluster = FakeCluster(
        {p.metadata.name: p for p in [make_pod("web-1", "solo"), make_pod("web-2", "solo")]},
        {"solo": make_node("solo")},
        pdbs=[make_pdb("web", V1LabelSelector(match_labels=LABELS))],
        refusals={"web-1": 10_000},
    )
    with pytest.raises(EvictionRefusedError) as err:
        DrainNode(**FAST).run(context(cluster))
    assert "node solo is the only schedulable node" in str(err.value)
    assert "PodDisruptionBudget web" in str(err.value)
    assert cluster.nodes["solo"].spec.unschedulable is False


def test_drain_uncordons_when_the_replacements_never_serve() -> None:
    cluster = two_nodes(replace=False)
    with pytest.raises(WaitTimeout, match="ready replacement pods"):
        DrainNode(node="node-a", **FAST).run(context(cluster))
    assert cluster.calls[-1] == ("patch_node", "node-a", False)


def test_a_failed_uncordon_after_a_failed_drain_keeps_the_drains_error_first() -> None:
    cluster = two_nodes(refusals={"web-a1": 10_000}, patch_node_error=api_error(500, "etcd down"))
    with pytest.raises(EvictionRefusedError) as err:
        DrainNode(node="node-a", **FAST).run(context(cluster))
    assert any("kubectl uncordon node-a" in note for note in err.value.__notes__)


def test_an_unknown_node_is_named_with_the_nodes_there_are() -> None:
    cluster = two_nodes()
    with pytest.raises(WorkloadSpecError) as err:
        DrainNode(node="node-z", **FAST).run(context(cluster))
    assert "node 'node-z' does not exist; the cluster's nodes: node-a, node-b" in str(err.value)
    assert cluster.calls == []  # nothing cordoned


def test_a_node_without_the_targets_pods_is_refused_before_the_cordon() -> None:
    cluster = two_nodes()
    cluster.nodes["node-c"] = make_node("node-c")
    with pytest.raises(WorkloadSpecError, match=r"holds no pod of deployment/web.*node-a \(2\)"):
        DrainNode(node="node-c", **FAST).run(context(cluster))
    assert cluster.calls == []


def test_a_node_cordoned_before_the_drain_stays_cordoned() -> None:
    cluster = two_nodes()
    cluster.nodes["node-a"].spec.unschedulable = True
    ctx = context(cluster)
    DrainNode(node="node-a", **FAST).run(ctx)
    assert [c for c in cluster.calls if c[0] == "patch_node"] == []
    assert ctx.record.actions[0]["already_cordoned"] is True
    assert cluster.nodes["node-a"].spec.unschedulable is True


def test_drain_lists_the_pods_to_evict_after_the_cordon() -> None:
    # Bound to the node between the check and the cordon: kubectl drain evicts it too.
    late = make_pod("web-a3", "node-a")
    cluster = two_nodes(on_cordon=[late])
    ctx = context(cluster)
    DrainNode(node="node-a", **FAST).run(ctx)
    assert [p for a, p, s in actions(ctx, "evict")] == ["web-a1", "web-a2", "web-a3"]


def test_drain_skips_a_pod_already_terminating_and_waits_until_it_is_gone() -> None:
    cluster = two_nodes(linger=6)
    ctx = context(cluster)
    Evict(pods=1, **FAST).run(ctx)  # web-a1 stays terminating through the drain's lists
    assert cluster.pods["web-a1"].metadata.deletion_timestamp is not None
    cluster.linger = 3  # web-a2 outlasts the drain's first look for it being gone
    DrainNode(node="node-a", **FAST).run(ctx)
    assert [p for a, p, s in actions(ctx, "evict")] == ["web-a1", "web-a2"]  # a1 once
    assert cluster.calls.index(("gone", "web-a1")) > cluster.calls.index(
        ("patch_node", "node-a", True)
    )
    gone = cluster.calls.index(("gone", "web-a2"))
    assert cluster.calls[gone + 1 :] == [("patch_node", "node-a", False)]


def test_a_drain_whose_replacements_cannot_start_on_the_only_node_says_why() -> None:
    pods = [make_pod("web-1", "solo"), make_pod("web-2", "solo")]
    cluster = FakeCluster({p.metadata.name: p for p in pods}, {"solo": make_node("solo")})
    with pytest.raises(WaitTimeout) as err:
        DrainNode(**FAST).run(context(cluster))
    text = str(err.value)
    assert "2 ready replacement pods" in text
    assert "hint: node solo is cordoned and it is the only schedulable node" in text
    assert cluster.nodes["solo"].spec.unschedulable is False


def test_a_drain_of_the_node_a_node_selector_pins_the_pods_to_says_so() -> None:
    pin = {"kubernetes.io/hostname": "node-a"}
    pods = [make_pod(f"web-{i}", "node-a", node_selector=pin) for i in (1, 2)]
    nodes = {n: make_node(n) for n in ("node-a", "node-b")}
    cluster = FakeCluster({p.metadata.name: p for p in pods}, nodes)
    with pytest.raises(WaitTimeout) as err:
        DrainNode(node="node-a", **FAST).run(context(cluster))
    assert (
        "hint: node node-a is cordoned, and the pods' nodeSelector "
        "{'kubernetes.io/hostname': 'node-a'} (SampleApp node_selector) matches no other "
        "schedulable node (node-b)"
    ) in str(err.value)


def test_a_failed_cordon_is_not_recorded_and_evicts_nothing() -> None:
    cluster = two_nodes(cordon_error=api_error(403, "nodes is forbidden"))
    ctx = context(cluster)
    with pytest.raises(ApiException):
        DrainNode(node="node-a", **FAST).run(ctx)
    assert actions(ctx) == []
    assert cluster.calls == [("patch_node", "node-a", True)]


def test_a_failed_uncordon_is_not_recorded() -> None:
    cluster = two_nodes(patch_node_error=api_error(500, "etcd down"))
    ctx = context(cluster)
    with pytest.raises(ApiException):
        DrainNode(node="node-a", **FAST).run(ctx)
    assert [a for a, _, _ in actions(ctx, "cordon", "uncordon")] == ["cordon"]


@pytest.mark.parametrize(
    "pdb_error",
    [
        api_error(403, "poddisruptionbudgets is forbidden"),
        urllib3.exceptions.MaxRetryError(None, "/apis/policy/v1", "connection refused"),  # type: ignore[arg-type]
        ConnectionResetError("reset by peer"),
    ],
    ids=["http", "urllib3", "connection"],
)
def test_budgets_that_cannot_be_listed_are_said_apart_from_the_refusal(
    pdb_error: BaseException,
) -> None:
    cluster = two_nodes(refusals={"web-a1": 10_000}, pdb_error=pdb_error)
    with pytest.raises(EvictionRefusedError) as err:
        DrainNode(node="node-a", **FAST).run(context(cluster))
    text = str(err.value)
    assert "refused" in text and PDB_MESSAGE in text  # the refusal itself stays first
    assert "listing the namespace's PodDisruptionBudgets failed as well (" in text
    assert f"kubectl get poddisruptionbudgets -n {NS}" in text
    assert "PodDisruptionBudget (" not in text
    assert "no PodDisruptionBudget in the namespace selects" not in text  # unknown, not none
    assert err.value.budgets == [] and err.value.budgets_unlisted
    assert cluster.nodes["node-a"].spec.unschedulable is False


@pytest.mark.parametrize("node", ["", "   ", 123, ["node-a"]])
def test_a_node_that_is_not_a_name_is_refused(node: Any) -> None:
    with pytest.raises(WorkloadSpecError, match="drain-node: node must be a node's name") as err:
        DrainNode(node=node)
    assert f"not {node!r}" in str(err.value)


def test_the_node_holding_most_pods_being_gone_is_said_with_a_fix() -> None:
    cluster = two_nodes()
    for i in (1, 2, 3):
        pod = make_pod(f"web-z{i}", "node-z")
        cluster.pods[pod.metadata.name] = pod
    with pytest.raises(WorkloadSpecError) as err:
        DrainNode(**FAST).run(context(cluster))
    text = str(err.value)
    assert "node 'node-z', which holds most serving pods of deployment/web, is gone" in text
    assert "(its nodes: node-a, node-b)" in text and "rerun once they are" in text
    assert cluster.calls == []


# rolling-update ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"max_surge": 0, "max_unavailable": 0}, "max_surge and max_unavailable .* both 0"),
        ({"max_surge": "0%", "max_unavailable": 0}, "both 0"),
        ({"max_surge": -1}, r"max_surge \(spec.strategy.rollingUpdate.maxSurge\) must be >= 0"),
        ({"max_unavailable": "150%"}, r"maxUnavailable\) must be at most 100%"),
        ({"max_unavailable": "1"}, "write 1 \\(an int\\) or '1%'"),
        ({"max_surge": "-5%"}, "must be an int or a percentage"),
        ({"max_surge": True}, "must be an int or a percentage"),
        ({"max_surge": "\u00b2"}, r"must be an int or a percentage like '25%', not '\u00b2'$"),
        ({"max_unavailable": " 25%"}, r"not ' 25%'"),  # no stripping: the API refuses it
        ({"max_unavailable": "101%"}, r"maxUnavailable\) must be at most 100%"),
        ({"change": "image"}, "change must be 'env'"),
    ],
)
def test_strategy_values_out_of_range_are_refused_naming_the_field(
    kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkloadSpecError, match=message):
        RollingUpdate(**kw)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"max_surge": 0, "max_unavailable": 1},  # one replica: the known outage, allowed
        {"max_surge": 1, "max_unavailable": 0},
        {"max_surge": "150%", "max_unavailable": "100%"},  # maxSurge may exceed 100 %
    ],
)
def test_strategy_values_kubernetes_accepts_are_accepted(kw: dict[str, Any]) -> None:
    RollingUpdate(**kw)


class FakeApps:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    def read_namespaced_deployment(self, name: str, namespace: str, **kw: Any) -> Any:
        container = SimpleNamespace(name="app")
        return SimpleNamespace(
            metadata=SimpleNamespace(generation=2),
            spec=SimpleNamespace(
                replicas=3, template=SimpleNamespace(spec=SimpleNamespace(containers=[container]))
            ),
            status=SimpleNamespace(
                observed_generation=2, updated_replicas=3, replicas=3, available_replicas=3
            ),
        )

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any) -> None:
        self.patches.append(body)

    def list_namespaced_replica_set(self, namespace: str, **kw: Any) -> SimpleNamespace:
        return list_replica_sets(namespace, **kw)

    def patch_namespaced_stateful_set(self, name: str, namespace: str, body: Any) -> None:
        raise AssertionError("a rolling update never patches a StatefulSet")


def test_a_rolling_update_changes_the_template_and_sets_the_strategy() -> None:
    apps = FakeApps()
    ctx = context(two_nodes(), apps=apps)
    RollingUpdate(max_surge=0, max_unavailable=1).run(ctx)
    (body,) = apps.patches
    assert body["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    (container,) = body["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "app"  # the merge key: other containers stay as they are
    assert [e["name"] for e in container["env"]] == [ROLLOUT_ENV]
    assert [a["action"] for a in ctx.record.actions] == ["rolling_update", "rollout_complete"]
    assert ctx.record.actions[0]["env"].startswith(f"{ROLLOUT_ENV}=")


def test_a_rolling_update_of_a_statefulset_is_refused() -> None:
    ctx = context(two_nodes(), apps=FakeApps(), kind="StatefulSet")
    with pytest.raises(WorkloadSpecError, match="statefulset/web is a StatefulSet; maxSurge"):
        RollingUpdate().run(ctx)


# delete-grace -----------------------------------------------------------------------
def test_delete_with_grace_zero_forces_each_pod_and_records_the_grace() -> None:
    cluster = two_nodes()
    ctx = context(cluster)
    DeleteWithGrace(grace_seconds=0, timeout_per_pod_s=0.3).run(ctx)
    deletes = [c for c in cluster.calls if c[0] == "delete"]
    assert [c[1] for c in deletes] == ["web-a1", "web-a2", "web-b1"]
    assert all(c[2] == V1DeleteOptions(grace_period_seconds=0) for c in deletes)
    assert [(a["action"], a.get("grace_seconds")) for a in ctx.record.actions][:2] == [
        ("delete", 0),
        ("replacement_ready", None),
    ]


def test_a_negative_grace_period_is_refused() -> None:
    with pytest.raises(WorkloadSpecError, match="grace_seconds must be an int >= 0"):
        DeleteWithGrace(grace_seconds=-1)


def test_the_expectation_is_the_workloads_under_every_new_disruption() -> None:
    # A force delete included: measured, the kubelet still runs a hook for ~1 s.
    hooked = SampleApp(SleepHook(5))
    for disruption in (DeleteWithGrace(), Evict(), DrainNode(), RollingUpdate()):
        assert Scenario(hooked, disruption=disruption).want == "no-errors"
        assert Scenario(SampleApp(NoHook()), disruption=disruption).want == "errors"


# ids ---------------------------------------------------------------------------------
def test_new_disruptions_get_readable_ids_and_their_parameters_in_the_result() -> None:
    sc = Scenario(SampleApp(SleepHook(5)), disruption=DrainNode())
    assert sc.scenario_id == "prestop-sleep--drain-node--new"
    assert Scenario(SampleApp(SleepHook(5)), disruption=DrainNode(node="n2")).scenario_id != (
        sc.scenario_id
    )
    params = Scenario(SampleApp(SleepHook(5)), disruption=RollingUpdate(max_surge=0)).parameters()
    assert params["disruption"] == {
        "kind": "rolling-update",
        "max_surge": 0,
        "max_unavailable": "25%",
        "change": "env",
        "timeout_s": 300.0,
    }
