"""The action log: what graceproof did to the workload, and when.

A disruption writes it while it runs (`ctx.record.act(...)`); the result keeps it as
its `disruption`. It lives apart from the result so that the disruption seam imports
only this, not the analysis behind a result (tests/unit/test_pipeline.py checks that).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STARTS_TERMINATION", "DisruptionRecord"]

# The detail key of an action that starts its pod's termination without a deletion
# (node-shutdown's `shutdown_announced`): graceproof.windows starts the pod's window
# there, since nothing the API shows marks that start.
STARTS_TERMINATION = "starts_termination"


@dataclass
class DisruptionRecord:
    """What graceproof did to the workload, and when: the record a disruption writes
    while it runs (`act`), and the part of the result that keeps it."""

    kind: str  # a disruption's kind: delete-one-by-one, rollout-restart, scale-down
    started: float
    finished: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def actions(self) -> list[dict[str, Any]]:
        """Each step taken, in order: `{"t", "action", ...}` (detail["actions"])."""
        actions: list[dict[str, Any]] = self.detail.setdefault("actions", [])
        return actions

    @property
    def span(self) -> tuple[float, float]:
        """From its start to its end (its start alone, when it never finished)."""
        return (self.started, self.finished if self.finished is not None else self.started)

    def act(self, action: str, **detail: Any) -> None:
        """Record that graceproof did `action` now (e.g. delete, pod=NAME)."""
        self.actions.append({"t": time.time(), "action": action, **detail})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "started": self.started,
            "finished": self.finished,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DisruptionRecord:
        finished = d.get("finished")
        return cls(
            kind=str(d["kind"]),
            started=float(d["started"]),
            finished=None if finished is None else float(finished),
            detail=dict(d.get("detail") or {}),
        )
