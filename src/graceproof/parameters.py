"""A seam object's parameters: every one for the result, the changed ones for its id.

Workloads, hooks, disruptions, ingress controllers and placements are frozen
dataclasses; their fields are their parameters. `parameters_of` gives them all as plain
data (the result's record of what ran), `changed_parameters` those that differ from
their defaults (what goes into a scenario id, so that two scenarios that differ in any
parameter never share an id). A field with `metadata=NOT_IN_ID` stays out of ids.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, fields, is_dataclass
from typing import Any

__all__ = ["NOT_IN_ID", "changed_parameters", "parameters_of"]

# Field metadata for parameters that do not distinguish one scenario from another
# (an object's name, the node port it happens to use): left out of scenario ids.
NOT_IN_ID = {"in_id": False}


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _is_instance(value: Any) -> bool:
    return is_dataclass(value) and not isinstance(value, type)


def parameters_of(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as plain data (nested dataclasses as dicts with their type)."""
    if not _is_instance(obj):
        return {}
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if _is_instance(value):
            value = {"type": type(value).__name__, **parameters_of(value)}
        elif isinstance(value, frozenset | set | tuple):
            value = sorted(value) if isinstance(value, frozenset | set) else list(value)
        out[f.name] = value
    return out


def changed_parameters(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Fields of a dataclass that differ from their defaults, flattened with dotted
    keys; nested dataclasses are compared with their own defaults, and a nested object
    of another class than its default's is named by its class (a required one is not:
    its class is the caller's choice, named in the readable part of the id)."""
    if not _is_instance(obj):
        return {}
    out: dict[str, Any] = {}
    for f in fields(obj):
        if not f.metadata.get("in_id", True):
            continue
        value, default, key = getattr(obj, f.name), _default(f), prefix + f.name
        if _is_instance(value):
            if default is not MISSING and type(value) is not type(default):
                out[key] = type(value).__name__
            out.update(changed_parameters(value, key + "."))
        elif default is MISSING or value != default:
            out[key] = value
    return out
