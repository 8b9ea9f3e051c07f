"""The least grace period that covers the hook and the drain, read from the runs as
written: no run of its own.

Each terminated pod's time from its deletion to its container's end
(graceproof.shutdown's `pod_ends`) is what the grace period has to cover: the preStop
hook, SIGTERM, and the app's own drain after it. The end is when the watch delivered
it, which lags the exit by the kubelet's status report (about 1 s, graceproof.shutdown),
so the longest of them bounds the need from above. The least grace that covers it is
that, rounded up to whole seconds, plus 1 s. A pod killed at the end of the grace
period (exit 137) means the workload's own grace is already too short.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.explain.plan import ExplainPlan
from graceproof.explain.protections.grace import own_grace
from graceproof.explain.variant import manifests_of
from graceproof.result import ScenarioResult
from graceproof.shutdown import pod_ends

__all__ = ["GraceNeeded", "grace_needed"]


@dataclass(frozen=True)
class GraceNeeded:
    own_s: int  # the workload's terminationGracePeriodSeconds
    lived_s: tuple[float, ...]  # deletion to container end, each terminated pod
    killed: int  # of them, ended by SIGKILL when the grace period ran out

    @property
    def least_s(self) -> int:
        return math.ceil(max(self.lived_s)) + 1

    def describe(self) -> str:
        n = len(self.lived_s)
        head = (
            f"grace period: from deletion to exit the pods took median "
            f"{statistics.median(self.lived_s):.1f} s, at most {max(self.lived_s):.1f} s "
            f"over {n} termination{'s' if n != 1 else ''} (as the kubelet reported it, "
            "about 1 s late)"
        )
        if self.killed:
            return (
                f"{head}; {self.killed} of them killed when the grace period ran out (exit "
                f"137): the workload's {self.own_s} s does not cover its hook and drain"
            )
        return (
            f"{head}; a terminationGracePeriodSeconds of {self.least_s} s covers hook and "
            f"drain (the workload's: {self.own_s} s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "own_s": self.own_s,
            "least_s": self.least_s,
            "lived_max_s": round(max(self.lived_s), 3),
            "lived_median_s": round(statistics.median(self.lived_s), 3),
            "terminations": len(self.lived_s),
            "killed": self.killed,
            "text": self.describe(),
        }


def grace_needed(
    plan: ExplainPlan, measured: Mapping[tuple[str, ...], Sequence[ScenarioResult]]
) -> GraceNeeded | str:
    """The grace the runs as written needed, or why it cannot be read."""
    ends = [e for r in measured.get((), ()) for e in pod_ends(r.windows, r.timeline)]
    if not ends:
        return "grace period: no pod's end was seen in the runs as written"
    own = own_grace(manifests_of(plan.scenario.workload).resolved)
    return GraceNeeded(own, tuple(e.lived_s for e in ends), sum(e.killed for e in ends))
