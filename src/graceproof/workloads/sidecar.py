"""The sample app behind a reverse proxy in its own pod: does the proxy outlive the app?

A proxy beside the app (a mesh's, or a team's own nginx) gets SIGTERM in the same
instant as the app, and stops routing while the app still serves or drains; a preStop
hook on the app alone cannot help. Native sidecars (KEP-753: beta and on by default in
Kubernetes 1.29, GA in 1.33) are stopped only after the main containers have exited.

    ProxiedApp(SleepHook(5), proxy="classic")          # fails: the proxy goes first
    ProxiedApp(SleepHook(5), proxy="native")           # holds: it goes last
    ProxiedApp(SleepHook(5), proxy="classic", proxy_sleep_s=5)   # informative
    ProxiedApp(SleepHook(8), proxy="classic", proxy_sleep_s=2,
               proxy_stop_signal="SIGQUIT")    # holds where the runtime honours it

`proxy_stop_signal` is the proxy's `lifecycle.stopSignal` (KEP-4960, alpha from 1.33
behind the ContainerStopSignals feature gate of the API server and the kubelets): the
signal the runtime stops it with, instead of the image's (SIGTERM here). Debian's nginx
takes SIGTERM as a fast shutdown, which cuts the requests in flight, and SIGQUIT as a
graceful one, which finishes them. The API server drops the field while its gate is
off (an error here says so); a runtime that does not know the field (containerd 1.6)
still sends SIGTERM, which nginx's own log shows (the timeline's `container_signal`).

With `outbound=True` the proxy also carries the app's outbound calls, the other
direction a mesh's sidecar carries: the app calls the workload's own Service through
the proxy's egress (127.0.0.1:15001) every 0.2 s from its start to its exit, and logs
each call, which the timeline keeps (`outbound_call`). A classic proxy gets its SIGTERM
at the deletion, as the app's hook only begins, so the calls the app still makes in
its hook and its drain fail; a native sidecar is still there. `outbound_after_deletion`
counts them per pod.

The manifests are in sidecar_manifests.py. The timeline records each container's end,
the native sidecar's included (graceproof.timeline_trackers), so a result shows the
proxy's exit against the app's; the kubelet's `Killing` event of each container
("Stopping container proxy") tells when it sent the proxy SIGTERM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graceproof.errors import GraceproofError, WorkloadSpecError
from graceproof.hooks import PreStopHook, SleepHook
from graceproof.model import Expected, TimelineEvent
from graceproof.parameters import NOT_IN_ID
from graceproof.waiting import workload_available
from graceproof.workloads.base import NODE_PORTS, UNIVERSAL_SIGNALS, DeployContext, Target, Workload
from graceproof.workloads.sample_manifests import APP_SIGNALS, NAME_LABEL, ShutdownMode, check
from graceproof.workloads.sidecar_manifests import (
    PROXY_CONTAINER,
    PROXY_IMAGE,
    PROXY_KINDS,
    PROXY_PORT,
    ProxyKind,
    render,
)

__all__ = [
    "NATIVE_SIDECARS_SINCE",
    "OUTBOUND_EVENT",
    "PROXY_IMAGE",
    "PROXY_PORT",
    "NativeSidecarsUnsupportedError",
    "OutboundCalls",
    "ProxiedApp",
    "StopSignalDroppedError",
    "check_native_sidecars",
    "check_sidecar_kept",
    "check_stop_signal_kept",
    "outbound_after_deletion",
]

# The timeline's kind for each outbound call the app logged (graceproof.timeline).
OUTBOUND_EVENT = "outbound_call"

# The SidecarContainers feature gate is beta and on by default from 1.29 (alpha, off,
# in 1.28), GA in 1.33.
NATIVE_SIDECARS_SINCE = (1, 29)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")


class NativeSidecarsUnsupportedError(GraceproofError):
    """The cluster cannot run an init container with `restartPolicy: Always`."""


def check_native_sidecars(server_version: str) -> None:
    """Raise NativeSidecarsUnsupportedError when `server_version` (the API server's
    git version, 'v1.28.15', 'v1.29.0+k3s1') predates native sidecars."""
    match = _VERSION.match(server_version.strip())
    if match is None:
        return  # an unusual version string: the check after creation still catches it
    found = (int(match.group(1)), int(match.group(2)))
    if found < NATIVE_SIDECARS_SINCE:
        since = ".".join(map(str, NATIVE_SIDECARS_SINCE))
        raise NativeSidecarsUnsupportedError(
            f"native sidecars need Kubernetes {since} or later (the SidecarContainers "
            f"feature: beta and on by default from {since}, GA in 1.33); this cluster runs "
            f"{server_version}. To fix: prove it on a cluster of {since} or later (kind: "
            "--gp-k8s-version 1.34), or prove the classic proxy (proxy='classic')"
        )


def check_sidecar_kept(created: Sequence[Any], server_version: str) -> None:
    """Raise NativeSidecarsUnsupportedError when the API server dropped the proxy's
    `restartPolicy` from the Deployment it created: it does so, silently, with the
    SidecarContainers feature gate off, and the proxy would then be an init container
    that never ends (the pods stuck in Init)."""
    for obj in created:
        if getattr(obj, "kind", None) != "Deployment":
            continue
        inits = obj.spec.template.spec.init_containers or []
        if any(c.name == PROXY_CONTAINER and c.restart_policy == "Always" for c in inits):
            return
        raise NativeSidecarsUnsupportedError(
            f"the API server ({server_version}) dropped `restartPolicy: Always` from the "
            f"{PROXY_CONTAINER!r} init container of deployment/{obj.metadata.name}: its "
            "SidecarContainers feature gate is off. To fix: turn it on (the API server's "
            "and the kubelets' --feature-gates=SidecarContainers=true), or prove the "
            "classic proxy (proxy='classic')"
        )


class StopSignalDroppedError(GraceproofError):
    """The API server dropped `lifecycle.stopSignal`: its feature gate is off."""


def check_stop_signal_kept(created: Sequence[Any], server_version: str) -> None:
    """Raise StopSignalDroppedError when the Deployment the API server created has no
    stopSignal on the proxy: with the ContainerStopSignals gate off (the default up to
    at least 1.34) it drops the field silently, and the proof would be of SIGTERM."""
    for obj in created:
        if getattr(obj, "kind", None) != "Deployment":
            continue
        spec = obj.spec.template.spec
        for c in [*(spec.containers or []), *(spec.init_containers or [])]:
            if c.name == PROXY_CONTAINER and c.lifecycle and c.lifecycle.stop_signal:
                return
        raise StopSignalDroppedError(
            f"the API server ({server_version}) dropped `lifecycle.stopSignal` from the "
            f"{PROXY_CONTAINER!r} container of deployment/{obj.metadata.name}: its "
            "ContainerStopSignals feature gate is off. To fix: turn it on for the API "
            "server and the kubelets (--feature-gates=ContainerStopSignals=true; kind: "
            "featureGates in the cluster's config; hack/local-cluster.sh turns it on), or "
            "prove the proxy without proxy_stop_signal"
        )


# The names the API server accepts for lifecycle.stopSignal in a Linux pod (Kubernetes'
# own list, pkg/apis/core/validation: not the host's signal module, which differs by OS).
_SIGNAL_NAMES = frozenset(
    [
        "SIGABRT",
        "SIGALRM",
        "SIGBUS",
        "SIGCHLD",
        "SIGCLD",
        "SIGCONT",
        "SIGFPE",
        "SIGHUP",
        "SIGILL",
        "SIGINT",
        "SIGIO",
        "SIGIOT",
        "SIGKILL",
        "SIGPIPE",
        "SIGPOLL",
        "SIGPROF",
        "SIGPWR",
        "SIGQUIT",
        "SIGSEGV",
        "SIGSTKFLT",
        "SIGSTOP",
        "SIGSYS",
        "SIGTERM",
        "SIGTRAP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGUSR1",
        "SIGUSR2",
        "SIGVTALRM",
        "SIGWINCH",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGRTMIN",
        "SIGRTMAX",
    ]
    + [f"SIGRTMIN+{i}" for i in range(1, 15)]
    + [f"SIGRTMAX-{i}" for i in range(1, 15)]
)


@dataclass(frozen=True)
class ProxiedApp(Workload):
    """The sample app (with `hook`) behind nginx in the same pod, as a Deployment and a
    NodePort Service on the proxy's port. `proxy`: "classic" (a container beside the
    app) or "native" (a sidecar); `proxy_sleep_s`: a preStop sleep of the proxy's own;
    `outbound`: the app also calls the workload's Service through the proxy's egress."""

    hook: PreStopHook = field(default_factory=SleepHook)
    proxy: ProxyKind = "classic"
    proxy_sleep_s: int | None = None
    proxy_stop_signal: str | None = None
    outbound: bool = False
    replicas: int = 2
    grace_seconds: int = 30
    shutdown_mode: ShutdownMode = "immediate"
    name: str = field(default="web", metadata=NOT_IN_ID)
    node_port: int = field(default=30085, metadata=NOT_IN_ID)
    # The nginx example's image: tests/e2e's `nginx_image_args` loads it into the cluster.
    proxy_image: str = field(default=PROXY_IMAGE, metadata=NOT_IN_ID)
    labels: Mapping[str, str] = field(default_factory=dict, metadata=NOT_IN_ID)
    ready_timeout_s: float = field(default=180.0, metadata=NOT_IN_ID)

    # nginx logs each signal it receives (graceproof.log_signals); the app, with
    # `outbound`, each outbound call.
    signals: ClassVar[frozenset[str]] = (
        UNIVERSAL_SIGNALS | APP_SIGNALS | {"container_signal", OUTBOUND_EVENT}
    )
    uses_session_image: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check(self.hook, self.grace_seconds, self.shutdown_mode, self.replicas)
        if self.proxy not in PROXY_KINDS:
            raise WorkloadSpecError(
                f"ProxiedApp.proxy must be one of {PROXY_KINDS}, not {self.proxy!r}"
            )
        if self.proxy_sleep_s is not None and not 1 <= self.proxy_sleep_s <= self.grace_seconds:
            # The API server refuses a sleep action longer than the grace period, and one
            # of 0 s before 1.33 (the PodLifecycleSleepActionAllowZero gate).
            raise WorkloadSpecError(
                f"ProxiedApp.proxy_sleep_s must be between 1 and grace_seconds "
                f"({self.grace_seconds}), not {self.proxy_sleep_s}"
            )
        if self.proxy_stop_signal is not None and self.proxy_stop_signal not in _SIGNAL_NAMES:
            raise WorkloadSpecError(
                f"ProxiedApp.proxy_stop_signal must name a signal (SIGQUIT, SIGTERM, ...), "
                f"not {self.proxy_stop_signal!r}"
            )
        if self.proxy_stop_signal is not None and self.proxy == "native":
            # The timeline follows the logs of the main containers only, so the signal a
            # native sidecar got would go unseen: what the proof is there to show.
            raise WorkloadSpecError(
                "ProxiedApp.proxy_stop_signal is for the classic proxy (proxy='classic'): "
                "the signal a native sidecar receives is not followed in its log"
            )
        if self.node_port not in NODE_PORTS:
            raise WorkloadSpecError(
                f"ProxiedApp.node_port {self.node_port} is outside "
                f"{NODE_PORTS.start}-{NODE_PORTS.stop - 1}, the node ports kind maps to "
                "127.0.0.1"
            )

    @property
    def label(self) -> str:
        """'prestop-sleep-behind-native-sidecar', '...-behind-classic-proxy[-sleeping]
        [-sigquit]', and '-outbound' when the app calls out through it."""
        where = "native-sidecar" if self.proxy == "native" else "classic-proxy"
        sleeping = "-sleeping" if self.proxy_sleep_s is not None else ""
        stop = f"-{self.proxy_stop_signal.lower()}" if self.proxy_stop_signal else ""
        outbound = "-outbound" if self.outbound else ""
        return f"{self.hook.name}-behind-{where}{sleeping}{stop}{outbound}"

    @property
    def expected(self) -> Expected:
        if self.proxy == "native":
            return self.hook.expected  # the app's hook is all that stands between
        if self.proxy_stop_signal is not None:
            # The team's claim: a graceful stop signal finishes what is in flight.
            return "no-errors"
        # A classic proxy stops routing at SIGTERM whatever the app's hook; with a sleep
        # of its own, what it buys is measured, not claimed.
        return "errors" if self.proxy_sleep_s is None else "informative"

    def manifests(self, image: str, egress_upstream: str | None = None) -> list[dict[str, Any]]:
        """With `outbound`, the egress passes to `egress_upstream`, by default the
        Service's name (cluster DNS, resolved by nginx at its start); deploy() gives
        the Service's ClusterIP instead, which needs no DNS (the local cluster has
        none)."""
        if self.outbound and egress_upstream is None:
            egress_upstream = f"{self.name}:{PROXY_PORT}"
        return render(
            self.hook,
            name=self.name,
            image=image,
            proxy=self.proxy,
            proxy_image=self.proxy_image,
            proxy_sleep_s=self.proxy_sleep_s,
            proxy_stop_signal=self.proxy_stop_signal,
            replicas=self.replicas,
            grace_seconds=self.grace_seconds,
            shutdown_mode=self.shutdown_mode,
            node_port=self.node_port,
            variant=self.label,
            labels=self.labels,
            egress_upstream=egress_upstream if self.outbound else None,
        )

    def _apply(self, ctx: DeployContext) -> list[Any]:
        """Create the manifests; with `outbound`, the Service first, and the rest with
        its ClusterIP as the egress's upstream: nginx reads its conf once, at start."""
        if not self.outbound:
            return ctx.kube.apply(self.manifests(ctx.image), ctx.namespace)
        services = [d for d in self.manifests(ctx.image) if d["kind"] == "Service"]
        created = ctx.kube.apply(services, ctx.namespace)
        ip = str(created[0].spec.cluster_ip)
        host = f"[{ip}]" if ":" in ip else ip  # an IPv6 cluster's address, as a URL has it
        upstream = f"{host}:{PROXY_PORT}"
        rest = [d for d in self.manifests(ctx.image, upstream) if d["kind"] != "Service"]
        return [*created, *ctx.kube.apply(rest, ctx.namespace)]

    def deploy(self, ctx: DeployContext) -> Target:
        version = ""
        if self.proxy == "native" or self.proxy_stop_signal is not None:
            version = ctx.kube.server_version()
        if self.proxy == "native":
            check_native_sidecars(version)  # before anything is created
        created = self._apply(ctx)
        if self.proxy == "native":
            check_sidecar_kept(created, version)
        if self.proxy_stop_signal is not None:
            check_stop_signal_kept(created, version)
        target = Target(
            kind="Deployment",
            name=self.name,
            selector=f"{NAME_LABEL}={self.name}",
            service=self.name,
            node_port=self.node_port,
            replicas=self.replicas,
            grace_seconds=self.grace_seconds,
            pod_port=PROXY_PORT,
        )
        workload_available(ctx.kube, ctx.namespace, target).wait(self.ready_timeout_s)
        return target


@dataclass(frozen=True)
class OutboundCalls:
    """The outbound calls a pod's app made from its deletion on, and how many failed."""

    made: int
    failed: int


def outbound_after_deletion(timeline: Iterable[TimelineEvent]) -> dict[str, OutboundCalls]:
    """Per deleted pod (its first `pod_deleted`), the outbound calls its app made from
    then on and how many of them failed: those the proxy had to carry while the pod
    terminated. A pod deleted before it made any call counts 0 of 0."""
    events = sorted(timeline, key=lambda e: e.t)
    deleted: dict[str, float] = {}
    for e in events:
        if e.kind == "pod_deleted" and e.pod is not None:
            deleted.setdefault(e.pod, e.t)
    calls: dict[str, list[bool]] = {pod: [] for pod in deleted}
    for e in events:
        if e.kind == OUTBOUND_EVENT and e.pod in calls and e.t >= deleted[e.pod]:
            calls[e.pod].append(e.detail.get("ok") is True)
    return {pod: OutboundCalls(len(oks), oks.count(False)) for pod, oks in calls.items()}
