"""`graceproof explain`: which of a workload's settings keep the requests.

From a team's workload as written it derives one variant per protection, each with
exactly that protection removed or weakened (graceproof.explain.protections), runs the
original and each variant K times under the same load and disruption, and reports per
protection the failures inside the termination windows with their exact 95 %
interval, the one-sided Fisher p against the original, and a plain verdict. Where
removing either of two protections alone changes nothing, the pair is removed too.

    explanation = explain(Scenario(ManifestWorkload.load(ManifestFiles((path,)))), run)
    explanation.row("prestop-hook").verdict   # "keeps requests"

`run` runs one Scenario and returns its result: the pytest fixture `explain` and the
CLI give one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from graceproof.explain.plan import ExplainPlan, plan_explanation
from graceproof.explain.protections import PROTECTIONS, Protection, protections_named
from graceproof.explain.run import Explanation, Run, run_plan
from graceproof.explain.table import (
    ALPHA,
    COVER,
    KEEPS,
    MISSING,
    NO_EFFECT,
    NOT_APPLICABLE,
    NOT_RUN,
    Row,
    Tally,
)
from graceproof.scenario import Scenario

__all__ = [
    "ALPHA",
    "COVER",
    "KEEPS",
    "MISSING",
    "NOT_APPLICABLE",
    "NOT_RUN",
    "NO_EFFECT",
    "PROTECTIONS",
    "ExplainPlan",
    "Explanation",
    "Protection",
    "Row",
    "Run",
    "Tally",
    "explain",
    "plan_explanation",
    "protections_named",
    "run_plan",
]

log = logging.getLogger(__name__)


def explain(
    scenario: Scenario,
    run: Run,
    *,
    runs: int = 3,
    protections: Sequence[Protection] = PROTECTIONS,
    time_budget_s: float | None = None,
) -> Explanation:
    """Explain `scenario`'s workload (a team's manifests: `ManifestWorkload`, also inside
    `ThroughIngress`), running each scenario through `run`. OptionError before any run
    for bad input (runs < 1, no protection applies, the time budget too short)."""
    plan = plan_explanation(
        scenario, runs=runs, protections=protections, time_budget_s=time_budget_s
    )
    for line in plan.lines():
        log.info("%s", line)
    return run_plan(plan, run, time_budget_s=time_budget_s)
