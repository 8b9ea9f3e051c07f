"""The load on the host (`OnHost`, the default placement): Locust as subprocesses
(graceproof.load.host_run.LoadRun) against the workload's NodePort on 127.0.0.1, which
must answer the load's request before the load starts (`check_reachable`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from graceproof.disruptions import serving_pods
from graceproof.errors import TargetUnreachableError, WaitTimeout
from graceproof.kube import Kube
from graceproof.load.host_run import LoadRun
from graceproof.load.placement import LoadContext, Placement
from graceproof.load.settings import LoadSettings
from graceproof.probe import answers, get, pod_port_refuses
from graceproof.traffic import traffic
from graceproof.waiting import wait_for
from graceproof.workloads.base import Target

__all__ = ["OnHost"]

# kube-proxy programs a new Service within a few seconds; after that, a port refused
# by every ready pod will not open by waiting.
_PROXY_SYNC_S = 5.0


@dataclass(frozen=True)
class OnHost(Placement):
    """Locust on this machine (graceproof.load.LoadRun): the default, for kind and the
    local cluster, whose NodePorts are on 127.0.0.1."""

    kind = "host"

    def check_reachable(
        self, kube: Kube, namespace: str, target: Target, load: LoadSettings
    ) -> None:
        """Wait until the NodePort answers the load's request on 127.0.0.1.
        TargetUnreachableError when it does not: at once when every ready pod refuses
        connections on its port, else after the wait, saying what the pods said."""
        started = time.monotonic()

        def probe() -> bool | None:
            ok = answers(
                target.node_port,
                load.path,
                host_header=load.host_header,
                expect=load.expect_status,
                # As long as the load gives each request: a slow path (/slow?seconds=3)
                # answers, later than a probe's usual 2 s.
                timeout=max(2.0, load.timeout_s),
            )
            # Ready pods are not yet a served NodePort: kube-proxy syncs a moment later;
            # a port that every ready pod still refuses after that is the input's fault.
            if ok is None and time.monotonic() - started > _PROXY_SYNC_S:
                refusals = _refusals(kube, namespace, target)
                if refusals and all(why == "refused" for why in refusals.values()):
                    raise TargetUnreachableError(_why_silent(kube, namespace, target))
            return ok

        try:
            wait_for(
                probe,
                what=f"NodePort {target.node_port} on 127.0.0.1 to answer {load.method} "
                f"{load.path}",
                timeout=60,
                interval=0.25,
                describe=lambda: _last_answer(target, load),
            )
        except WaitTimeout as exc:
            why = _why_silent(kube, namespace, target)
            raise TargetUnreachableError(f"{exc}\n  why: {why}") from exc

    def runner(self, ctx: LoadContext) -> LoadRun:
        return LoadRun(
            ctx.target.node_port_for(traffic(ctx.settings.connection).port),
            ctx.settings,
            duration_s=ctx.duration_s,
            records_path=ctx.records_path,
        )

    def changed(self) -> dict[str, Any]:
        return {}


def _refusals(kube: Kube, namespace: str, target: Target) -> dict[str, str | None]:
    """For each ready pod, why a TCP connection to its port fails (None: it connects)."""
    if target.pod_port is None:
        return {}
    return {
        f"{p.metadata.name} ({p.status.pod_ip})": (
            pod_port_refuses(kube, namespace, p.metadata.name, target.pod_port)
            if p.status.pod_ip
            else "no pod IP"
        )
        for p in serving_pods(kube, namespace, target)
    }


def _last_answer(target: Target, load: LoadSettings) -> str:
    a = get(target.node_port, load.path, host_header=load.host_header)
    return f"HTTP {a.status}" if a.status else f"no answer ({a.error})"


def _why_silent(kube: Kube, namespace: str, target: Target) -> str:
    """What the pods say when reached directly (pods of graceproof's own cluster)."""
    if target.pod_port is None:
        return f"check that the pods of {target.ref} serve the Service's targetPort"
    for pod, why in _refusals(kube, namespace, target).items():
        if why is not None:
            return (
                f"{target.ref}: pod {pod} {why} on port {target.pod_port}, the Service's "
                "targetPort: does the container listen on it?"
            )
    return (
        f"the pods of {target.ref} accept connections on port {target.pod_port}; check the "
        "path, Host header and expected statuses of the load"
    )
