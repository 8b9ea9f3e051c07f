"""Shut a node down gracefully, as the kubelet sees it (KEP-2000), for the target's pods.

The kubelet's graceful node shutdown holds a systemd-logind "delay" inhibitor lock;
when logind announces a shutdown (the D-Bus signal PrepareForShutdown(true)), the
kubelet marks its node NotReady ("node is shutting down"), rejects new pods, and kills
its pods itself, regular ones within shutdownGracePeriod - shutdownGracePeriodCriticalPods
(each with the shorter of that and its own grace period, preStop hooks included),
critical ones (kube-proxy, the CNI's) last. Such a pod is never deleted: it ends in
phase Failed with reason Terminated and the condition DisruptionTarget
(TerminationByKubelet), and its controller replaces it elsewhere. kubernetes#116965
reported that the endpoints of such pods were not updated; the timeline shows what
this cluster does (pod_disrupted, endpoint_*, container_terminated). Measured on kind
with Kubernetes 1.34 (tests/e2e/test_node_shutdown.py): the kubelet posts nothing about
such a pod (condition, phase, readiness) until it has ended, so its endpoint stays
ready through its preStop hook and its own drain, and is removed only after its exit.
Each pod's termination window therefore starts at the announcement
(`shutdown_announced`, graceproof.windows), not at anything the API shows.

Triggered as Kubernetes' own node e2e does (test/e2e_node/node_shutdown_linux_test.go):
the signal is emitted on the node's system bus (busctl emit), so the node does not go
down, then the shutdown is cancelled with PrepareForShutdown(false). The kubelet 1.34
loses its inhibitor lock on that cancel (acquireInhibitLock closes the fd number of
the lock it released during the shutdown, which the new lock has just reused), so a
later shutdown would not wait; when the lock is gone after the cancel the kubelet is
restarted, which takes it again, and the record says so (`kubelet_restarted`).

Needs a node graceproof can run a command on (graceproof.node_shell: kind's nodes)
with a D-Bus system bus and the kubelet's shutdownGracePeriod set (kind-config.yaml).
kind's own node images have no D-Bus, so their kubelets never start graceful node
shutdown ("Failed to start node shutdown manager"); hack/kind-base-image.sh adds dbus.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from graceproof.disruptions.base import Disruption, DisruptionContext
from graceproof.disruptions.node_choice import check_holds_pods, choose_node, target_pods_on
from graceproof.errors import CommandFailedError, GraceproofError, WorkloadSpecError
from graceproof.node_shell import NodeShell, node_shell_for
from graceproof.waiting import REQUEST_TIMEOUT, wait_for

__all__ = [
    "KUBELET_CONFIG_FIX",
    "NodeShutdown",
    "NodeShutdownUnavailableError",
    "check_node",
    "kubelet_holds_lock",
]

log = logging.getLogger(__name__)

LOGIND = ("org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager")
KUBELET_CONFIG_FIX = (
    "set the kubelet's shutdownGracePeriod, e.g. in kind-config.yaml: kubeadmConfigPatches: "
    '["kind: KubeletConfiguration\\nshutdownGracePeriod: 30s\\n'
    "shutdownGracePeriodCriticalPods: 10s\"] (graceproof's kind-config.yaml has it)"
)
DBUS_FIX = (
    "kind's node images (kindest/node) have no D-Bus, so their kubelets never start "
    "graceful node shutdown (the kubelet's log: 'Failed to start node shutdown manager'). "
    "Use a node image with the dbus package (hack/kind-node-image.sh makes one; on your "
    "own: FROM kindest/node@..., RUN apt-get update && apt-get install -y dbus)"
)


class NodeShutdownUnavailableError(GraceproofError):
    """The node cannot shut down gracefully: no system bus, or no kubelet lock."""


def kubelet_holds_lock(listed: str) -> bool:
    """Whether `busctl --json=short call ... ListInhibitors` lists the kubelet's delay
    lock on shutdown (what the kubelet takes when graceful node shutdown is on)."""
    data = json.loads(listed).get("data") or [[]]
    for what, who, _why, mode, *_ in data[0]:
        if who == "kubelet" and mode == "delay" and "shutdown" in what.split(":"):
            return True
    return False


def _inhibitors(shell: NodeShell) -> str:
    return shell.run(["busctl", "--json=short", "call", *LOGIND, "ListInhibitors"])


def _inhibit_delay_s(shell: NodeShell) -> float:
    """logind's InhibitDelayMaxUSec in seconds: the longest a delay lock holds a shutdown
    (the kubelet raises it to its shutdownGracePeriod)."""
    out = shell.run(["busctl", "--json=short", "get-property", *LOGIND, "InhibitDelayMaxUSec"])
    return float(json.loads(out)["data"]) / 1e6


def check_node(shell: NodeShell, node: str) -> float:
    """The node's inhibit delay; NodeShutdownUnavailableError when the kubelet there
    cannot shut down gracefully."""
    try:
        listed = _inhibitors(shell)
    except CommandFailedError as exc:
        first = (exc.output.strip().splitlines() or ["no output"])[-1]
        raise NodeShutdownUnavailableError(
            f"node-shutdown: node {node} answers no logind on its D-Bus system bus "
            f"(busctl: {first}). {DBUS_FIX}"
        ) from exc
    if not kubelet_holds_lock(listed):
        raise NodeShutdownUnavailableError(
            f"node-shutdown: the kubelet of node {node} holds no shutdown inhibitor lock "
            "(busctl call org.freedesktop.login1 ... ListInhibitors), so graceful node "
            "shutdown is off there: shutdownGracePeriod is 0, the kubelet's default. To "
            f"fix: {KUBELET_CONFIG_FIX}"
        )
    return _inhibit_delay_s(shell)


def _emit(shell: NodeShell, shutting_down: bool) -> None:
    value = "true" if shutting_down else "false"
    shell.run(["busctl", "emit", LOGIND[1], LOGIND[2], "PrepareForShutdown", "b", value])


def _ready(node: Any) -> tuple[bool, str, str]:
    for c in (node.status.conditions if node.status else None) or []:
        if c.type == "Ready":
            return c.status == "True", c.reason or "", c.message or ""
    return False, "", "no Ready condition"


def _wait_node(ctx: DisruptionContext, node: str, ready: bool, timeout: float) -> None:
    """Wait until the node's Ready condition is `ready`, and record it with its reason."""
    seen: list[str] = []

    def probe() -> tuple[bool, str, str] | None:
        state = _ready(ctx.kube.core.read_node(node, _request_timeout=REQUEST_TIMEOUT))
        seen[:] = [f"Ready={state[0]} {state[1]}: {state[2]}"]
        return state if state[0] == ready else None

    _, reason, message = wait_for(
        probe,
        what=f"node {node} to be {'Ready' if ready else 'NotReady'}",
        timeout=timeout,
        interval=0.2,
        describe=lambda: seen[0] if seen else "not read yet",
    )
    ctx.record.act(
        "node_ready" if ready else "node_not_ready", node=node, reason=reason, message=message
    )


def _wait_pods_ended(ctx: DisruptionContext, uids: set[str], timeout: float) -> None:
    """Wait until the pods of `uids` ended: phase Failed or Succeeded, or gone."""
    left: list[str] = []

    def probe() -> bool | None:
        pods = ctx.kube.core.list_namespaced_pod(
            ctx.namespace, _request_timeout=REQUEST_TIMEOUT
        ).items
        left[:] = [
            f"{p.metadata.name} ({p.status.phase})"
            for p in pods
            if p.metadata.uid in uids and p.status.phase not in ("Failed", "Succeeded")
        ]
        return True if not left else None

    wait_for(
        probe,
        what=f"the kubelet to end the {len(uids)} pod(s) of the shut-down node",
        timeout=timeout,
        describe=lambda: f"still running: {', '.join(left)}",
    )


def _delete_failed_daemon_pods(ctx: DisruptionContext, node: str) -> None:
    """Delete the node's DaemonSet pods that the shutdown left Failed (killed, or
    rejected while it lasted): the DaemonSet controller deletes a failed pod itself only
    after a backoff that doubles with each failure on the node (measured: after three
    shutdowns kube-proxy and kindnet stayed Failed for minutes), and then recreates it
    at once. Only the pods of this node, of a DaemonSet, and Failed."""
    pods = ctx.kube.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node},status.phase=Failed",
        _request_timeout=REQUEST_TIMEOUT,
    ).items
    for pod in pods:
        owners = pod.metadata.owner_references or []
        if not any(o.kind == "DaemonSet" for o in owners):
            continue
        name, namespace = pod.metadata.name, pod.metadata.namespace
        log.info("deleting the failed DaemonSet pod %s/%s of node %s", namespace, name, node)
        ctx.kube.core.delete_namespaced_pod(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        ctx.record.act("failed_daemon_pod_deleted", node=node, daemon_pod=f"{namespace}/{name}")


def _daemonsets_ready(ctx: DisruptionContext, timeout: float) -> None:
    """Wait until every DaemonSet is ready again: the shutdown killed the node's critical
    pods too (kube-proxy, the CNI's), and the kubelet rejected their replacements
    while it was shutting down."""
    late: list[str] = []

    def probe() -> bool | None:
        sets = ctx.kube.apps.list_daemon_set_for_all_namespaces(
            _request_timeout=REQUEST_TIMEOUT
        ).items
        late[:] = [
            f"{d.metadata.namespace}/{d.metadata.name} {d.status.number_ready or 0}/"
            f"{d.status.desired_number_scheduled or 0}"
            for d in sets
            if (d.status.number_ready or 0) < (d.status.desired_number_scheduled or 0)
        ]
        return True if not late else None

    wait_for(
        probe,
        what="every DaemonSet ready again after the node's shutdown",
        timeout=timeout,
        describe=lambda: f"not ready: {', '.join(late)}",
    )


@dataclass(frozen=True)
class NodeShutdown(Disruption):
    """Announce a shutdown to a node's kubelet (logind's PrepareForShutdown over D-Bus),
    wait until the target serves again with replacements elsewhere and the kubelet has
    ended the pods of that node, then cancel the shutdown and wait until the node is
    Ready with its kubelet's lock and every DaemonSet ready again (so the next proof
    finds the cluster as it was). `node=None` shuts down the node holding most serving
    pods of the target. `timeout_s` bounds each wait on its own."""

    kind: ClassVar[str] = "node-shutdown"
    node: str | None = None
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.node is not None and not (isinstance(self.node, str) and self.node.strip()):
            raise WorkloadSpecError(
                "node-shutdown: node must be a node's name (kubectl get nodes), or None "
                f"to shut down the node holding most of the target's pods; not {self.node!r}"
            )
        if not self.timeout_s > 0:
            raise WorkloadSpecError(
                f"node-shutdown: timeout_s must be a positive number of seconds, not "
                f"{self.timeout_s!r}"
            )

    def run(self, ctx: DisruptionContext) -> None:
        serving = ctx.serving()
        node = self._node(ctx, serving)
        name = node.metadata.name
        check_holds_pods(self.kind, ctx, name, verb="shut down")
        shell = node_shell_for(node)
        delay = check_node(shell, name)
        pods = target_pods_on(ctx, name)
        uids = {p.metadata.uid for p in pods}
        with _announced(ctx, shell, name, [p.metadata.name for p in pods], delay, self.timeout_s):
            _wait_node(ctx, name, ready=False, timeout=30)
            ctx.wait_serving(
                len(serving),
                uids,
                self.timeout_s,
                hint=f"node {name} is shutting down, so the replacements must run on "
                "another node; check that they fit there (kubectl get pods -o wide)",
            )
            ctx.record.act("replacements_ready", node=name)
            _wait_pods_ended(ctx, uids, timeout=delay + 60)
            ctx.record.act("pods_ended", node=name, pods=len(uids))

    def nodes_emptied(self, ctx: DisruptionContext) -> tuple[str, ...]:
        return (self._node(ctx, ctx.serving()).metadata.name,)

    def _node(self, ctx: DisruptionContext, serving: list[Any]) -> Any:
        nodes = ctx.kube.core.list_node(_request_timeout=REQUEST_TIMEOUT).items
        return choose_node(self.kind, self.node, ctx, serving, nodes, verb="shut down")


@contextmanager
def _announced(
    ctx: DisruptionContext,
    shell: NodeShell,
    node: str,
    pods: list[str],
    delay: float,
    timeout: float,
) -> Iterator[None]:
    """The shutdown announced for the block, then cancelled and the node restored, also
    when the block fails (its error keeps the lead)."""
    log.info("announcing a shutdown to node %s (PrepareForShutdown over D-Bus)", node)
    _emit(shell, True)
    ctx.record.act("prepare_for_shutdown", node=node, inhibit_delay_s=delay)
    for pod in pods:
        # Each pod's termination window starts here (graceproof.windows): the kubelet
        # tells the API nothing about it until it has ended.
        ctx.record.act("shutdown_announced", pod=pod, node=node)
    try:
        yield
    except BaseException as exc:
        try:
            _restore(ctx, shell, node, delay, timeout)
        except Exception as err:
            exc.add_note(
                f"restoring node {node} failed as well ({err}): docker exec {shell.node} "
                "busctl emit /org/freedesktop/login1 org.freedesktop.login1.Manager "
                f"PrepareForShutdown b false; docker exec {shell.node} systemctl restart kubelet"
            )
        raise
    _restore(ctx, shell, node, delay, timeout)


def _restore(
    ctx: DisruptionContext, shell: NodeShell, node: str, delay: float, timeout: float
) -> None:
    log.info("cancelling the shutdown of node %s", node)
    _emit(shell, False)
    ctx.record.act("shutdown_cancelled", node=node)
    # The kubelet takes the cancel once it has ended the node's pods, within the delay.
    _wait_node(ctx, node, ready=True, timeout=delay + timeout)
    if not kubelet_holds_lock(_inhibitors(shell)):
        log.info(
            "the kubelet of node %s lost its inhibitor lock on the cancel: restarting it", node
        )
        shell.run(["systemctl", "restart", "kubelet"])
        ctx.record.act("kubelet_restarted", node=node, why="inhibitor lock lost on the cancel")
        wait_for(
            lambda: True if kubelet_holds_lock(_inhibitors(shell)) else None,
            what=f"the kubelet of node {node} to take its inhibitor lock again",
            timeout=timeout,
            transient=(CommandFailedError,),
        )
    _delete_failed_daemon_pods(ctx, node)
    _daemonsets_ready(ctx, timeout)
