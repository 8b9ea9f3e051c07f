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

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "kubernetes_version": self.kubernetes_version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClusterInfo:
        return cls(
            provider=str(d["provider"]),
            name=str(d["name"]),
            kubernetes_version=str(d["kubernetes_version"]),
        )


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
