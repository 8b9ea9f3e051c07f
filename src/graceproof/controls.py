"""A negative control that reproduced nothing is run again, a bounded number of times.

A negative control (expected "errors") claims that something can happen: on this
cluster, without the protection, requests fail. One reproduction shows that, so a
control may be attempted more than once and pass on any attempt, where a proof that
nothing fails (expected "no-errors") never may: it would be retried until it passed.

Why a control needs it: its failures come from a race (the pod's SIGTERM against the
endpoint's removal from every data plane), and a race can go the protected way. A
scale-down ends its pods in one step, so one race decides all of them: on the local
cluster, the no-hook scale-down reproduced 6 to 95 failures in nine CI-like runs and
none in a tenth (0 of 2,255 inside its windows). Three attempts make that about one in
a thousand.

Every attempt is kept. One followed by another is turned into an informative result
(held to nothing; its message says it was attempt n of N and why another followed,
then what its own verdict said, a gap of its timeline say), so a green run shows no
red row for it; the last attempt is judged, and its message names the attempts
before it. Each attempt runs in a namespace of its own; the one before is emptied
first (graceproof.namespaces.release), which frees its NodePort for the next and its
pods' CPU. What a test prepared in its namespace before the proof (labels, Secrets,
a quota) is not in the next attempt's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from graceproof.config import CONTROL_ATTEMPTS, MAX_CONTROL_ATTEMPTS
from graceproof.result import ScenarioResult
from graceproof.verdict import Verdict

__all__ = [
    "CONTROL_ATTEMPTS",
    "after_attempts",
    "attempted",
    "reproduced_nothing",
    "superseded",
]

log = logging.getLogger(__name__)

# CONTROL_ATTEMPTS: attempts by default (the plugin's --gp-control-attempts).


def reproduced_nothing(result: ScenarioResult) -> bool:
    """A negative control none of whose requests inside its windows failed: another
    attempt may show what this one did not. (One that reproduced failures is judged as
    it is, even when its verdict fails for another reason, a gap of the timeline say.)"""
    return result.verdict.expected == "errors" and result.counts.failed_in_windows == 0


def superseded(result: ScenarioResult, attempt: int, attempts: int) -> ScenarioResult:
    """`result`, attempt `attempt` of `attempts`, kept as informative: another follows."""
    c = result.counts
    message = (
        f"negative control, attempt {attempt} of {attempts}, not judged: {c.failed_in_windows} "
        f"of {c.in_windows} requests inside termination windows failed, so it was run "
        "again (one reproduction is what a control has to show). Its own verdict: "
        f"{result.verdict.message}"
    )
    return replace(result, verdict=Verdict("informative", True, message))


def after_attempts(result: ScenarioResult, earlier: Sequence[ScenarioResult]) -> ScenarioResult:
    """The judged last attempt, its message naming the `earlier` ones."""
    if not earlier:
        return result
    n = len(earlier) + 1
    before = "; ".join(
        f"{r.file_stem}: {r.counts.failed_in_windows} of {r.counts.in_windows}" for r in earlier
    )
    note = f" (attempt {n} of this negative control; before it, failed inside windows: {before})"
    return replace(result, verdict=replace(result.verdict, message=result.verdict.message + note))


def attempted(
    once: Callable[[], tuple[str, ScenarioResult]],
    keep: Callable[[ScenarioResult], object],
    release: Callable[[str], None],
    attempts: int,
) -> ScenarioResult:
    """Run a proof through `once` (its namespace and result) and `keep` each result;
    a negative control that reproduced nothing is run again, up to `attempts` in all,
    after `release` emptied the namespace of the attempt before. The judged result."""
    if not 1 <= attempts <= MAX_CONTROL_ATTEMPTS:
        raise ValueError(f"control attempts must be 1 to {MAX_CONTROL_ATTEMPTS}, not {attempts}")
    earlier: list[ScenarioResult] = []
    while True:
        namespace, result = once()
        if len(earlier) + 1 >= attempts or not reproduced_nothing(result):
            judged = after_attempts(result, earlier)
            keep(judged)
            return judged
        earlier.append(result)
        keep(superseded(result, len(earlier), attempts))
        log.warning(
            "[%s] the negative control reproduced nothing (0 of %d inside its windows "
            "failed): attempt %d of %d follows",
            result.file_stem,
            result.counts.in_windows,
            len(earlier) + 1,
            attempts,
        )
        release(namespace)
