"""Drain a node as `kubectl drain` does, for the target's pods."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from graceproof.disruptions.base import Disruption, DisruptionContext
from graceproof.disruptions.eviction import check_retry, evict_pod
from graceproof.errors import WorkloadSpecError
from graceproof.waiting import REQUEST_TIMEOUT

__all__ = ["DrainNode", "cordoned"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainNode(Disruption):
    """Cordon a node, evict the target's pods on it through the Eviction API, wait
    until the target serves again with replacements, and uncordon the node.

    Like `kubectl drain`, but only for the pods of the target's namespace that its
    selector matches (other pods on the node stay: graceproof disrupts nothing it did
    not deploy). Evictions go one after another, each retried every
    `retry_interval_s` while a PodDisruptionBudget refuses it (429), each pod keeping
    its own grace period. `node=None` drains the node holding most serving pods of the
    target. The node is uncordoned at the end, also when the drain fails; a node that
    was cordoned before is left cordoned.

    `timeout_s` bounds each wait: the eviction of one pod, and the replacements. A pod
    still refused after it stops the drain with EvictionRefusedError naming the budget.
    """

    kind: ClassVar[str] = "drain-node"
    node: str | None = None
    timeout_s: float = 120.0
    retry_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.node is not None and not self.node.strip():
            raise WorkloadSpecError("drain-node: node must be a node's name, or None")
        check_retry(self.kind, self.timeout_s, self.retry_interval_s)

    def run(self, ctx: DisruptionContext) -> None:
        serving = ctx.serving()
        nodes = ctx.kube.core.list_node(_request_timeout=REQUEST_TIMEOUT).items
        node = self._node(ctx, serving, nodes)
        pods = _target_pods_on(ctx, node.metadata.name)
        hint = _hint(node.metadata.name, nodes)
        with cordoned(ctx, node):
            evicted: set[str] = set()
            for pod in pods:
                evict_pod(
                    ctx, pod, timeout=self.timeout_s, interval=self.retry_interval_s, hint=hint
                )
                evicted.add(pod.metadata.uid)
            # Before the uncordon: replacements must not land back on the drained node.
            ctx.wait_serving(len(serving), evicted, self.timeout_s)
            ctx.record.act("replacements_ready", node=node.metadata.name)

    def _node(self, ctx: DisruptionContext, serving: list[Any], nodes: list[Any]) -> Any:
        """The V1Node to drain: the one named, else the one with most serving pods."""
        by_name = {n.metadata.name: n for n in nodes}
        if self.node is not None:
            if self.node not in by_name:
                raise WorkloadSpecError(
                    f"drain-node: node {self.node!r} does not exist; the cluster's nodes: "
                    f"{', '.join(sorted(by_name)) or 'none'}. Set node to one of them, or "
                    f"to None to drain the node holding most pods of {ctx.target.ref}"
                )
            return by_name[self.node]
        counts = Counter(p.spec.node_name for p in serving if p.spec and p.spec.node_name)
        if not counts:
            raise WorkloadSpecError(
                f"drain-node: {ctx.target.ref} has no serving pod on any node, so there is "
                "no node to drain; check that its pods are Ready"
            )
        # Most pods first; ties by name, so the same cluster state drains the same node.
        name = min(counts, key=lambda n: (-counts[n], n))
        if name not in by_name:
            raise WorkloadSpecError(f"drain-node: node {name!r} of the target's pods is gone")
        return by_name[name]


def _target_pods_on(ctx: DisruptionContext, node: str) -> list[Any]:
    """The target's pods on `node` that are not terminating yet, ready or not (kubectl
    drain evicts every pod of the node)."""
    pods = ctx.kube.core.list_namespaced_pod(
        ctx.namespace, label_selector=ctx.target.selector, _request_timeout=REQUEST_TIMEOUT
    ).items
    on_node = [
        p
        for p in pods
        if p.spec is not None and p.spec.node_name == node and p.metadata.deletion_timestamp is None
    ]
    if not on_node:
        where = Counter(p.spec.node_name for p in pods if p.spec is not None)
        found = ", ".join(f"{n} ({c})" for n, c in sorted(where.items(), key=str)) or "none"
        raise WorkloadSpecError(
            f"drain-node: node {node!r} holds no pod of {ctx.target.ref}, so draining it "
            f"terminates nothing; its pods are on: {found}. Choose one of those nodes"
        )
    return on_node


def _schedulable(node: Any) -> bool:
    return not (node.spec is not None and node.spec.unschedulable)


def _hint(node: str, nodes: list[Any]) -> str:
    others = sorted(n.metadata.name for n in nodes if n.metadata.name != node and _schedulable(n))
    if not others:
        return (
            f"node {node} is the only schedulable node: once it is cordoned the "
            "replacements cannot be scheduled anywhere, so no budget that counts them "
            "can ever allow the eviction; add a node or drain without such a budget"
        )
    return (
        f"a budget allows the next eviction once a replacement is Ready on another node "
        f"({', '.join(others)}); check that the replacements can be scheduled there "
        "(kubectl get pods -o wide, the pods' events)"
    )


@contextmanager
def cordoned(ctx: DisruptionContext, node: Any) -> Iterator[None]:
    """Mark `node` (a V1Node) unschedulable for the block, recorded as cordon and
    uncordon. The uncordon also runs when the block fails; if that fails too, the
    block's error keeps the lead and names the command to run by hand."""
    name = node.metadata.name
    if not _schedulable(node):
        # Cordoned by someone else: not graceproof's to uncordon.
        ctx.record.act("cordon", node=name, already_cordoned=True)
        yield
        return
    ctx.record.act("cordon", node=name)
    _set_unschedulable(ctx, name, True)
    try:
        yield
    except BaseException as exc:
        try:
            _uncordon(ctx, name)
        except Exception as err:
            exc.add_note(f"uncordoning node {name} failed as well ({err}): kubectl uncordon {name}")
        raise
    _uncordon(ctx, name)


def _uncordon(ctx: DisruptionContext, name: str) -> None:
    ctx.record.act("uncordon", node=name)
    _set_unschedulable(ctx, name, False)


def _set_unschedulable(ctx: DisruptionContext, name: str, value: bool) -> None:
    log.info("%s node %s", "cordoning" if value else "uncordoning", name)
    ctx.kube.core.patch_node(
        name, {"spec": {"unschedulable": value}}, _request_timeout=REQUEST_TIMEOUT
    )
