"""The load on the host: Locust as subprocesses against a NodePort on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graceproof.load import LoadRun
from graceproof.placement.base import LoadContext, LoadRunner, Placement
from graceproof.traffic import traffic

__all__ = ["OnHost"]


@dataclass(frozen=True)
class OnHost(Placement):
    """Locust on this machine (graceproof.load.LoadRun): the default, for kind and the
    local cluster, whose NodePorts are on 127.0.0.1."""

    kind = "host"

    def runner(self, ctx: LoadContext) -> LoadRunner:
        return LoadRun(
            ctx.target.node_port_for(traffic(ctx.settings.connection).port),
            ctx.settings,
            duration_s=ctx.duration_s,
            records_path=ctx.records_path,
        )

    def changed(self) -> dict[str, Any]:
        return {}
