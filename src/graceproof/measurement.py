"""What one run recorded, before any analysis: the second value of the pipeline

    Scenario -> Subject + Measurement -> Analysis -> Verdict -> ScenarioResult

(graceproof.subject, graceproof.analysis, graceproof.verdict, graceproof.result).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.action_log import DisruptionRecord
from graceproof.model import RequestRecord, TimelineEvent

__all__ = ["ClusterInfo", "Measurement"]


@dataclass(frozen=True)
class ClusterInfo:
    provider: str  # the provider's name: kind, existing
    name: str
    kubernetes_version: str
    # kube-proxy's data plane (graceproof.proxy_mode): iptables, nftables, ipvs; None
    # when the cluster does not say (and in results written before it was recorded).
    proxy_mode: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "kubernetes_version": self.kubernetes_version,
            "proxy_mode": self.proxy_mode,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClusterInfo:
        mode = d.get("proxy_mode")
        return cls(
            provider=str(d["provider"]),
            name=str(d["name"]),
            kubernetes_version=str(d["kubernetes_version"]),
            proxy_mode=None if mode is None else str(mode),
        )

    def describe(self) -> str:
        """`kind graceproof, Kubernetes v1.34.4, kube-proxy nftables`."""
        mode = f", kube-proxy {self.proxy_mode}" if self.proxy_mode else ""
        return f"{self.provider} {self.name}, Kubernetes {self.kubernetes_version}{mode}"


@dataclass(frozen=True)
class Measurement:
    """What a run recorded: every request the load sent, what the cluster did (the
    timeline), what graceproof did (the action log), the load as it ran, where and when.
    Facts only: what they mean is the analysis's job, whether they pass the verdict's."""

    cluster: ClusterInfo
    disruption: DisruptionRecord
    load: Mapping[str, Any]  # the load's parameters as it ran (LoadResult.parameters)
    records: Sequence[RequestRecord]
    timeline: Sequence[TimelineEvent]  # in the order recorded; the analysis sorts it
    started: float
    finished: float
