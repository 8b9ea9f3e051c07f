"""What a result is of and what it claims: the scenario's part of the pipeline.

A `Scenario` (graceproof.scenario) holds live objects: a workload that deploys, a
disruption that runs. What the analysis, the verdict and the result need of it is a
handful of plain values, taken once (`Scenario.subject`) and passed whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graceproof.budget import Budget
from graceproof.model import ConnectionPolicy, Expected

__all__ = ["Subject"]


@dataclass(frozen=True)
class Subject:
    scenario_id: str
    variant: str  # the workload's label: no-hook, prestop-sleep, ...
    connection: ConnectionPolicy  # the traffic kind's name: new, keepalive, grpc, ...
    expected: Expected
    # Every parameter of the scenario (workload, disruption, load, the live target), for
    # readers, and for classifying failures (graceproof.failures.FailureContext).
    parameters: Mapping[str, Any] = field(default_factory=dict)
    budget: Budget | None = None  # what a no-errors verdict allows beside the zero rule
    # Whether retryable failures count against the verdict (else they are answered).
    count_retryable: bool = True
