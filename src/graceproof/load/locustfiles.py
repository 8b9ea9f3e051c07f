"""graceproof's locustfiles: where they are, and the settings they read.

The settings (each GRACEPROOF_* variable, its parser and default) are declared once, in
workloads/locust_settings.py beside the locustfile: the locustfile imports it, and so
does graceproof, through this module, from the same folder it finds the locustfile in
(`graceproof.paths`: the checkout's workloads/, else the installed package data). Why
the declaration lives there and not in graceproof: its own docstring. Nothing else in
graceproof writes those variables' names: LoadSettings and the in-cluster runner's pods
get their environment from `environment()`.

Locust is never imported here: the declaration uses the standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from graceproof import paths
from graceproof.errors import LoadError
from graceproof.model import ConnectionPolicy
from graceproof.traffic import traffic

__all__ = [
    "LOCUSTFILE_ENV",
    "SETTINGS_FILE",
    "LocustfileNotFound",
    "declaration",
    "declared",
    "default_locustfile",
    "environment",
    "unreadable",
    "variable",
]

LOCUSTFILE_ENV = "GRACEPROOF_LOCUSTFILE"
SETTINGS_FILE = "locust_settings.py"
# Its name in sys.modules: graceproof's own, never the `locust_settings` a locustfile
# imports in a Locust process.
_MODULE = "graceproof._locust_settings"


class LocustfileNotFound(LoadError):
    """No locustfile: graceproof was installed without the repository's workloads/."""


def _load() -> ModuleType:
    path = paths.workloads_dir() / SETTINGS_FILE
    spec = importlib.util.spec_from_file_location(_MODULE, path)
    if not path.is_file() or spec is None or spec.loader is None:
        raise LocustfileNotFound(
            f"graceproof's {SETTINGS_FILE} is missing from {path.parent} (an install "
            "without its package data?): reinstall graceproof"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


declaration = _load()
"""workloads/locust_settings.py, loaded: its Settings, SETTINGS, read(), render()."""


def declared(scope: str = "load", kind: str = "") -> tuple[str, ...]:
    """The names of the declared settings of a scope ("load": LoadSettings decides them;
    "process": the runner sets them per Locust process) and traffic kind ("" for all
    kinds, e.g. "grpc" for the gRPC kinds' own)."""
    return tuple(s.name for s in declaration.SETTINGS if s.scope == scope and s.kind == kind)


def default(name: str) -> Any:
    """What the locustfile takes when the setting's variable is unset."""
    return declaration.BY_NAME[name].default


def variable(name: str) -> str:
    """The environment variable of a setting (GRACEPROOF_<NAME> for a traffic kind's own
    setting that workloads/locust_settings.py does not declare: its locustfile reads it)."""
    return str(declaration.variable(name))


def environment(values: Mapping[str, Any]) -> dict[str, str]:
    """The variables of settings given by name, as the locustfile reads them."""
    return {str(k): str(v) for k, v in declaration.environment(values).items()}


def unreadable(env: Mapping[str, str]) -> list[str]:
    """What the locustfile would refuse in these variables: values it cannot parse."""
    _, problems = declaration.read(None, env)
    return [str(p) for p in problems]


def default_locustfile(connection: ConnectionPolicy = "new") -> Path:
    """The locustfile of a traffic kind: graceproof's own (`graceproof.paths`: under
    workloads/ of the checkout, else of the installed package data); for the HTTP kinds,
    $GRACEPROOF_LOCUSTFILE first."""
    name = traffic(connection).locustfile
    from_env = os.environ.get(LOCUSTFILE_ENV) if name == paths.locustfile().name else None
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise LocustfileNotFound(f"{LOCUSTFILE_ENV}={from_env} is not a file")
        # The locustfile imports its parts from its own folder (locust_settings.py, ...).
        missing = [n for n in LOCUSTFILE_PARTS if not (path.parent / n).is_file()]
        if missing:
            raise LocustfileNotFound(
                f"{LOCUSTFILE_ENV}={from_env}: its folder lacks {', '.join(missing)}, which "
                "it imports; copy every workloads/locust*.py of graceproof beside it"
            )
        return path
    shipped = paths.workloads_dir() / name
    if shipped.is_file():
        return shipped
    raise LocustfileNotFound(
        f"graceproof's locustfile {shipped} is missing (an install without its package "
        f"data?); pass locustfile=... or set {LOCUSTFILE_ENV} to a copy of workloads/"
        "locust*.py (the locustfile with the parts it imports)"
    )


# The modules the HTTP locustfile imports from its own folder.
LOCUSTFILE_PARTS = ("locust_settings.py", "locust_users.py", "locust_records.py", "locust_ports.py")
