"""Kubernetes' IntOrString amounts ("2" pods or "50%"), checked in one place.

The PodDisruptionBudget of the sample workload (minAvailable, maxUnavailable) and the
rolling-update disruption (maxSurge, maxUnavailable) take the same kind of value; one
check keeps their rules and messages the same. A module of its own, importing only
the errors, so that workloads and disruptions can both use it without a cycle.
"""

from __future__ import annotations

import re

from graceproof.errors import WorkloadSpecError

__all__ = ["check_int_or_percent", "percent_of"]

# ASCII digits only: str.isdigit() and \d accept '²' or '٣', which int() and the
# API server then refuse. No surrounding whitespace either: the API server takes the
# string as it is, and " 5%" is not a percentage there.
_PERCENT = re.compile(r"([0-9]+)%", re.ASCII)


def percent_of(value: int | str) -> int | None:
    """The N of an "N%" string, or None for an int (checked by check_int_or_percent)."""
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value)
        if match is not None:
            return int(match.group(1))
    return None


def check_int_or_percent(where: str, value: object, *, over_100: bool = False) -> None:
    """WorkloadSpecError naming `where` unless `value` is an int >= 0 or an "N%"
    string; above "100%" only when `over_100` (a maxSurge may add more pods than there
    are replicas; a budget or maxUnavailable cannot take more than all of them)."""
    bound = "" if over_100 else " (at most '100%')"
    like = f"an int or a percentage like '25%'{bound}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise WorkloadSpecError(f"{where} must be {like}, not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise WorkloadSpecError(f"{where} must be >= 0, not {value}")
        return
    percent = percent_of(value)
    if percent is None:
        digits = value.isascii() and value.isdigit()
        fix = f"; write {int(value)} (an int) or '{int(value)}%'" if digits else ""
        raise WorkloadSpecError(f"{where} must be {like}, not {value!r}{fix}")
    if percent > 100 and not over_100:
        raise WorkloadSpecError(f"{where} must be at most 100%, not {value!r}")
