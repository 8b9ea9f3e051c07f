"""The protections `graceproof explain` takes away one at a time, one class each
behind `Protection`. A new one is a new module with one subclass, plus its instance
in `PROTECTIONS`; `explain` takes any list of instances without it."""

from graceproof.errors import OptionError
from graceproof.explain.protections.base import Protection
from graceproof.explain.protections.grace import GracePeriod
from graceproof.explain.protections.pdb import DisruptionBudget
from graceproof.explain.protections.prestop import PreStopHook
from graceproof.explain.protections.readiness import ReadinessProbe
from graceproof.explain.protections.rolling import RollingStrategy

__all__ = [
    "PROTECTIONS",
    "DisruptionBudget",
    "GracePeriod",
    "PreStopHook",
    "Protection",
    "ReadinessProbe",
    "RollingStrategy",
    "protections_named",
]

PROTECTIONS: tuple[Protection, ...] = (
    PreStopHook(),
    ReadinessProbe(),
    DisruptionBudget(),
    RollingStrategy(),
    GracePeriod(),
)


def protections_named(names: list[str] | tuple[str, ...]) -> tuple[Protection, ...]:
    """The shipped protections of these names, in the registry's order (all: none given);
    OptionError naming --protection for an unknown one."""
    if not names:
        return PROTECTIONS
    known = {p.name: p for p in PROTECTIONS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise OptionError(
            f"--protection {unknown[0]}: no such protection; choose from {', '.join(known)}"
        )
    return tuple(p for p in PROTECTIONS if p.name in names)
