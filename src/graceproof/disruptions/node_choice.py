"""Which node a node disruption acts on (drain-node, node-shutdown), and its target pods.

The named node, else the one holding most serving pods of the target (ties by name, so
the same cluster state picks the same node). Messages name the disruption (`kind`) and
what it does to the node (`verb`: "drain", "shut down").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from graceproof.disruptions.base import DisruptionContext
from graceproof.errors import WorkloadSpecError
from graceproof.owners import target_pods

__all__ = ["check_holds_pods", "choose_node", "target_pods_on"]


def choose_node(
    kind: str,
    node: str | None,
    ctx: DisruptionContext,
    serving: list[Any],
    nodes: list[Any],
    verb: str = "drain",
) -> Any:
    """The V1Node to act on: the one named, else the one with most serving pods."""
    by_name = {n.metadata.name: n for n in nodes}
    known = ", ".join(sorted(by_name)) or "none"
    if node is not None:
        if node not in by_name:
            raise WorkloadSpecError(
                f"{kind}: node {node!r} does not exist; the cluster's nodes: "
                f"{known}. Set node to one of them, or to None to {verb} the node "
                f"holding most pods of {ctx.target.ref}"
            )
        return by_name[node]
    counts = Counter(p.spec.node_name for p in serving if p.spec and p.spec.node_name)
    if not counts:
        raise WorkloadSpecError(
            f"{kind}: {ctx.target.ref} has no serving pod on any node, so there is "
            f"no node to {verb}; check that its pods are Ready"
        )
    # Most pods first; ties by name, so the same cluster state picks the same node.
    name = min(counts, key=lambda n: (-counts[n], n))
    if name not in by_name:
        raise WorkloadSpecError(
            f"{kind}: node {name!r}, which holds most serving pods of "
            f"{ctx.target.ref}, is gone from the cluster (its nodes: {known}); its pods "
            "will be rescheduled: rerun once they are, or set node to one of the nodes"
        )
    return by_name[name]


def target_pods_on(ctx: DisruptionContext, node: str) -> list[Any]:
    """The target's pods on `node` that are not terminating yet, ready or not: a node
    disruption acts on every pod of the node (as kubectl drain evicts them all), and
    one already terminating needs nothing more."""
    return [
        p
        for p in target_pods(ctx.kube, ctx.namespace, ctx.target)
        if p.spec is not None and p.spec.node_name == node and p.metadata.deletion_timestamp is None
    ]


def check_holds_pods(kind: str, ctx: DisruptionContext, node: str, verb: str = "drain") -> None:
    """WorkloadSpecError unless `node` holds a pod of the target to act on."""
    if target_pods_on(ctx, node):
        return
    pods = target_pods(ctx.kube, ctx.namespace, ctx.target)
    where = Counter(p.spec.node_name for p in pods if p.spec is not None)
    found = ", ".join(f"{n} ({c})" for n, c in sorted(where.items(), key=str)) or "none"
    raise WorkloadSpecError(
        f"{kind}: node {node!r} holds no pod of {ctx.target.ref}, so to {verb} it "
        f"terminates nothing; its pods are on: {found}. Choose one of those nodes"
    )
