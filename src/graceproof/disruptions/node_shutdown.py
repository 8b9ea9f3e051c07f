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

from kubernetes.client.exceptions import ApiException

from graceproof.action_log import STARTS_TERMINATION
from graceproof.disruptions.base import Disruption, DisruptionContext, wait_all_gone
from graceproof.disruptions.node_choice import check_holds_pods, choose_node, target_pods_on
from graceproof.errors import CommandFailedError, GraceproofError, WaitTimeout, WorkloadSpecError
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
    "shutdownGracePeriodCriticalPods: 10s\"] (graceproof's kind-config.yaml has it), then "
    "create the kind cluster again: kubeadm applies these patches only at creation"
)
DBUS_FIX = (
    "kind's node images (kindest/node) have no D-Bus, so their kubelets never start "
    "graceful node shutdown (the kubelet's log: 'Failed to start node shutdown manager'). "
    "Use a node image with the dbus package (hack/kind-node-image.sh makes one; on your "
    "own: FROM kindest/node@..., RUN apt-get update && apt-get install -y dbus), and "
    "create the kind cluster again from it"
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


def _taints(node: Any) -> set[tuple[str, str]]:
    taints = (node.spec.taints if node.spec is not None else None) or []
    return {(str(t.key), str(t.effect)) for t in taints}


def _ready_daemonsets(ctx: DisruptionContext) -> tuple[set[str], list[str]]:
    """The DaemonSets (namespace/name) with every pod ready, and the others described."""
    sets = ctx.kube.apps.list_daemon_set_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT).items
    ready: set[str] = set()
    late: list[str] = []
    for d in sets:
        key = f"{d.metadata.namespace}/{d.metadata.name}"
        have, want = d.status.number_ready or 0, d.status.desired_number_scheduled or 0
        if have >= want:
            ready.add(key)
        else:
            late.append(f"{key} {have}/{want}")
    return ready, late


def _delete_failed_daemon_pods(ctx: DisruptionContext, node: str) -> None:
    """Delete the node's DaemonSet pods that the shutdown left Failed (killed, or
    rejected while it lasted): the DaemonSet controller deletes a failed pod itself only
    after a backoff that doubles with each failure on the node (measured: after three
    shutdowns kube-proxy and kindnet stayed Failed for minutes), and then recreates it
    at once. Only the pods of this node, of a DaemonSet, and Failed; one the controller
    deleted first (404) is left to it."""
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
        try:
            ctx.kube.core.delete_namespaced_pod(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise
            continue
        ctx.record.act("failed_daemon_pod_deleted", node=node, daemon_pod=f"{namespace}/{name}")


@dataclass(frozen=True)
class NodeShutdown(Disruption):
    """Announce a shutdown to a node's kubelet (logind's PrepareForShutdown over D-Bus),
    wait until the target serves again with replacements elsewhere and the kubelet has
    ended the pods of that node, then cancel the shutdown and wait until the node is
    Ready with its kubelet's lock, without the shutdown's taints, and every DaemonSet
    ready again (so the next proof finds the cluster as it was). `node=None` shuts
    down the node holding most serving pods of the target. `timeout_s` bounds each
    wait on its own, except the node's NotReady (30 s: the kubelet posts it at once)
    and the pods' end (logind's inhibit delay + timeout_s)."""

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
        names = [p.metadata.name for p in pods]
        # Those the restore waits for: one never ready before is not this run's to fix.
        daemonsets, _ = _ready_daemonsets(ctx)
        shutdown = _Shutdown(ctx, shell, name, delay, self.timeout_s, daemonsets, _taints(node))
        with shutdown.announced(names):
            shutdown.wait_not_ready()
            ctx.wait_serving(
                len(serving),
                uids,
                self.timeout_s,
                hint=f"node {name} is shutting down, so the replacements must run on "
                "another node; check that they fit there (kubectl get pods -o wide)",
            )
            ctx.record.act("replacements_ready", node=name)
            # Ended: phase Failed or Succeeded, kept in the API (no one deletes them).
            wait_all_gone(ctx.kube, ctx.namespace, names, timeout=delay + self.timeout_s)
            ctx.record.act("pods_ended", node=name, pods=len(uids))

    def nodes_emptied(self, ctx: DisruptionContext) -> tuple[str, ...]:
        """The node it will shut down; checked here, before any load starts, so a node
        that cannot shut down gracefully stops the proof before it measures anything."""
        node = self._node(ctx, ctx.serving())
        check_node(node_shell_for(node), node.metadata.name)
        return (node.metadata.name,)

    def _node(self, ctx: DisruptionContext, serving: list[Any]) -> Any:
        nodes = ctx.kube.core.list_node(_request_timeout=REQUEST_TIMEOUT).items
        return choose_node(self.kind, self.node, ctx, serving, nodes, verb="shut down")


@dataclass
class _Shutdown:
    """One node's announced shutdown, and its undoing."""

    ctx: DisruptionContext
    shell: NodeShell
    node: str
    delay: float  # logind's inhibit delay: the longest the kubelet holds the shutdown
    timeout: float
    daemonsets: set[str]  # the DaemonSets ready before: the restore waits for these
    taints: set[tuple[str, str]]  # the node's taints before (key, effect)
    not_ready_seen: bool = False

    def manual_fix(self) -> str:
        return (
            f"docker exec {self.shell.node} busctl emit /org/freedesktop/login1 "
            f"org.freedesktop.login1.Manager PrepareForShutdown b false; docker exec "
            f"{self.shell.node} systemctl restart kubelet"
        )

    @contextmanager
    def announced(self, pods: list[str]) -> Iterator[None]:
        """The shutdown announced for the block, then cancelled and the node restored,
        also when the block fails or is interrupted (its error keeps the lead)."""
        log.info("announcing a shutdown to node %s (PrepareForShutdown over D-Bus)", self.node)
        # Recorded before the signal: the kubelet may act before busctl returns, and the
        # pods' windows start here (graceproof.windows), as a deletion's do at the call.
        self.ctx.record.act("prepare_for_shutdown", node=self.node, inhibit_delay_s=self.delay)
        for pod in pods:
            # The kubelet tells the API nothing about these pods until they have ended.
            self.ctx.record.act(
                "shutdown_announced", pod=pod, node=self.node, **{STARTS_TERMINATION: True}
            )
        try:
            _emit(self.shell, True)
            yield
        except BaseException as exc:
            log.warning(
                "restoring node %s (by hand, if this fails: %s)", self.node, self.manual_fix()
            )
            try:
                self.restore()
            except BaseException as err:
                exc.add_note(
                    f"restoring node {self.node} failed as well ({err!r}): {self.manual_fix()}"
                )
            raise
        try:
            self.restore()
        except BaseException as exc:
            exc.add_note(f"to restore node {self.node} by hand: {self.manual_fix()}")
            raise

    def wait_not_ready(self) -> None:
        _wait_node(self.ctx, self.node, ready=False, timeout=30)
        self.not_ready_seen = True

    def restore(self) -> None:
        if not self.not_ready_seen:
            # The kubelet handles the cancel only after the shutdown it was told of: until
            # its node is NotReady it still holds its old lock, and a check now would pass
            # before the cancel loses it.
            try:
                self.wait_not_ready()
            except WaitTimeout:
                log.warning("node %s never turned NotReady after the announcement", self.node)
        log.info("cancelling the shutdown of node %s", self.node)
        _emit(self.shell, False)
        self.ctx.record.act("shutdown_cancelled", node=self.node)
        # The kubelet takes the cancel once it has ended the node's pods, within the delay.
        _wait_node(self.ctx, self.node, ready=True, timeout=self.delay + self.timeout)
        if not kubelet_holds_lock(_inhibitors(self.shell)):
            log.info(
                "the kubelet of node %s lost its inhibitor lock on the cancel: restarting it",
                self.node,
            )
            self.shell.run(["systemctl", "restart", "kubelet"])
            self.ctx.record.act(
                "kubelet_restarted", node=self.node, why="inhibitor lock lost on the cancel"
            )
            shell = self.shell
            wait_for(
                lambda: True if kubelet_holds_lock(_inhibitors(shell)) else None,
                what=f"the kubelet of node {self.node} to take its inhibitor lock again",
                timeout=self.timeout,
                transient=(CommandFailedError,),
            )
        self.wait_untainted()
        self.wait_daemonsets()

    def wait_untainted(self) -> None:
        """Until the node has no taint it did not have before: the node lifecycle
        controller taints a NotReady node (node.kubernetes.io/not-ready, NoSchedule and
        NoExecute) and lifts that only some seconds after it is Ready again; until then
        nothing new is scheduled there (measured: the next proof found one schedulable
        worker)."""
        extra: list[str] = []

        def probe() -> bool | None:
            node = self.ctx.kube.core.read_node(self.node, _request_timeout=REQUEST_TIMEOUT)
            extra[:] = [f"{k}:{e}" for k, e in sorted(_taints(node) - self.taints)]
            return True if not extra else None

        wait_for(
            probe,
            what=f"node {self.node}'s taints of the shutdown to be lifted",
            timeout=self.timeout,
            describe=lambda: f"still tainted: {', '.join(extra)}",
        )
        self.ctx.record.act("node_untainted", node=self.node)

    def wait_daemonsets(self) -> None:
        """Until every DaemonSet that was ready before the shutdown is ready again, each
        poll deleting the node's DaemonSet pods left Failed (a pod's Failed phase may be
        posted after the first look)."""
        late: list[str] = []

        def probe() -> bool | None:
            _delete_failed_daemon_pods(self.ctx, self.node)
            ready, not_ready = _ready_daemonsets(self.ctx)
            late[:] = [d for d in not_ready if d.split(" ")[0] in self.daemonsets]
            return True if self.daemonsets <= ready else None

        wait_for(
            probe,
            what=f"the DaemonSets ready before node {self.node}'s shutdown to be ready again",
            timeout=self.timeout,
            interval=1.0,
            describe=lambda: f"not ready: {', '.join(late) or 'none listed'}",
        )
