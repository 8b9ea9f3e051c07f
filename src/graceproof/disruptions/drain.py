"""Drain a node as `kubectl drain` does, for the target's pods."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from graceproof.disruptions.base import Disruption, DisruptionContext, wait_all_gone
from graceproof.disruptions.eviction import check_retry, evict_pod
from graceproof.disruptions.node_choice import check_holds_pods, choose_node, target_pods_on
from graceproof.errors import WorkloadSpecError
from graceproof.waiting import REQUEST_TIMEOUT

__all__ = ["DrainNode", "cordoned"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainNode(Disruption):
    """Cordon a node, evict the target's pods on it through the Eviction API, wait
    until the target serves again with replacements and the evicted pods are gone, and
    uncordon the node.

    Like `kubectl drain`, but only for the pods of the target's namespace that its
    selector matches (other pods on the node stay: graceproof disrupts nothing it did
    not deploy). As kubectl drain, it checks the node first, cordons it, and only then
    lists the pods to evict, so a pod bound there just before the cordon goes too.
    `node=None` drains the node holding most serving pods of the target.

    Where it differs from `kubectl drain`:
    - kubectl evicts every pod of the node at once, each in its own goroutine; here
      the evictions go one after another (the next once the last was accepted), each
      retried every `retry_interval_s` while a PodDisruptionBudget refuses it (429).
    - kubectl's --timeout bounds the whole drain; `timeout_s` here bounds each wait on
      its own: the eviction of one pod, then the replacements becoming Ready.
    - kubectl leaves the node cordoned; here it is uncordoned at the end, also when
      the drain fails (a node that was cordoned before is left cordoned). The uncordon
      waits until the evicted pods are gone, for at most their grace period + 60 s, so
      no replacement lands on the node while the drain's terminations still run.

    Each pod keeps its own grace period. A pod still refused after `timeout_s` stops
    the drain with EvictionRefusedError naming the budget.
    """

    kind: ClassVar[str] = "drain-node"
    node: str | None = None
    timeout_s: float = 120.0
    retry_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.node is not None and not (isinstance(self.node, str) and self.node.strip()):
            raise WorkloadSpecError(
                "drain-node: node must be a node's name (a non-empty string, as kubectl "
                "get nodes lists them), or None to drain the node holding most of the "
                f"target's pods; not {self.node!r}"
            )
        check_retry(self.kind, self.timeout_s, self.retry_interval_s)

    def run(self, ctx: DisruptionContext) -> None:
        serving = ctx.serving()
        nodes = ctx.kube.core.list_node(_request_timeout=REQUEST_TIMEOUT).items
        node = choose_node(self.kind, self.node, ctx, serving, nodes)
        name = node.metadata.name
        check_holds_pods(self.kind, ctx, name)  # before the cordon: a wrong node changes nothing
        with cordoned(ctx, node):
            # Listed again now that nothing new can land on the node (kubectl drain
            # lists after the cordon too): a pod bound since the check is drained as well.
            pods = target_pods_on(ctx, name)
            hint = _hint(name, nodes)
            for pod in pods:
                evict_pod(
                    ctx, pod, timeout=self.timeout_s, interval=self.retry_interval_s, hint=hint
                )
            evicted = {p.metadata.uid for p in pods}
            # Before the uncordon: replacements must not land back on the drained node.
            ctx.wait_serving(
                len(serving), evicted, self.timeout_s, hint=_replacement_hint(name, nodes, pods)
            )
            ctx.record.act("replacements_ready", node=name)
            wait_all_gone(
                ctx.kube,
                ctx.namespace,
                [p.metadata.name for p in pods],
                timeout=_longest_grace(ctx, pods) + 60,
            )

    def nodes_emptied(self, ctx: DisruptionContext) -> tuple[str, ...]:
        """The node it will drain, as `run` chooses it now (the named one, else the one
        holding most serving pods)."""
        nodes = ctx.kube.core.list_node(_request_timeout=REQUEST_TIMEOUT).items
        return (choose_node(self.kind, self.node, ctx, ctx.serving(), nodes).metadata.name,)


def _longest_grace(ctx: DisruptionContext, pods: list[Any]) -> float:
    """The longest grace period among `pods` (the target's when a pod does not say)."""
    graces = [
        p.spec.termination_grace_period_seconds
        for p in pods
        if p.spec is not None and p.spec.termination_grace_period_seconds is not None
    ]
    return float(max(graces, default=ctx.target.grace_seconds))


def _schedulable(node: Any) -> bool:
    return not (node.spec is not None and node.spec.unschedulable)


def _others(node: str, nodes: list[Any]) -> list[Any]:
    """The schedulable nodes other than `node`, by name."""
    others = [n for n in nodes if n.metadata.name != node and _schedulable(n)]
    return sorted(others, key=lambda n: str(n.metadata.name))


def _hint(node: str, nodes: list[Any]) -> str:
    others = [n.metadata.name for n in _others(node, nodes)]
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


def _replacement_hint(node: str, nodes: list[Any], pods: list[Any]) -> str:
    """Why replacements may never become Ready while `node` is cordoned: no other
    schedulable node, or a nodeSelector that only `node` matches."""
    others = _others(node, nodes)
    if not others:
        return (
            f"node {node} is cordoned and it is the only schedulable node, so the "
            "replacements cannot be scheduled anywhere; add a node (hack/local-cluster.sh "
            "up --nodes 2) or drain on a cluster of several nodes"
        )
    selector = next((p.spec.node_selector for p in pods if p.spec and p.spec.node_selector), None)
    if selector and not any(_matches(n, selector) for n in others):
        return (
            f"node {node} is cordoned, and the pods' nodeSelector {dict(selector)} "
            f"(SampleApp node_selector) matches no other schedulable node "
            f"({', '.join(n.metadata.name for n in others)}), so the replacements stay "
            "Pending; drop the node_selector, or drain a node it does not pin the pods to"
        )
    return (
        f"node {node} is cordoned, so the replacements must run on "
        f"{', '.join(n.metadata.name for n in others)}; check that they fit there and "
        "that no nodeSelector or affinity pins them to the drained node (kubectl get pods "
        "-o wide, the pods' events)"
    )


def _matches(node: Any, selector: Mapping[str, str]) -> bool:
    labels = node.metadata.labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


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
    _set_unschedulable(ctx, name, True)
    # Recorded once done: a refused patch must not show as a cordon in the picture.
    ctx.record.act("cordon", node=name)
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
    _set_unschedulable(ctx, name, False)
    ctx.record.act("uncordon", node=name)  # after the patch, as the cordon


def _set_unschedulable(ctx: DisruptionContext, name: str, value: bool) -> None:
    log.info("%s node %s", "cordoning" if value else "uncordoning", name)
    ctx.kube.core.patch_node(
        name, {"spec": {"unschedulable": value}}, _request_timeout=REQUEST_TIMEOUT
    )
