"""Where graceproof's own files are: the one place that resolves each shipped data file.

The files live at the top of the repository, where a reader expects them:
`workloads/locustfile.py`, `workloads/app/`, `workloads/Dockerfile`,
`workloads/manifests/` and `kind-config.yaml`. A wheel ships the same tree as the
package data `graceproof/_data/` (pyproject.toml maps the package `graceproof._data`
to the repository root, so there is no second copy in git). Each function answers
with the source checkout's file when graceproof runs from one (an editable install,
or `src/` on the path), else with the installed package data.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "INSTALLED_DATA",
    "SOURCE_ROOT",
    "checkout_root",
    "data_file",
    "data_root",
    "dockerfile",
    "kind_config",
    "locustfile",
    "manifests_dir",
    "repo_workloads_dir",
    "sample_app_dir",
    "workloads_dir",
]

_PACKAGE_DIR = Path(__file__).resolve().parent
# src/graceproof/paths.py -> the repository root of a source checkout.
SOURCE_ROOT = _PACKAGE_DIR.parents[1]
# graceproof/_data/ next to this file in an installed wheel (see pyproject.toml).
INSTALLED_DATA = _PACKAGE_DIR / "_data"


def checkout_root() -> Path | None:
    """The root of the source checkout graceproof runs from, or None when installed.

    In site-packages, SOURCE_ROOT is lib/ of the virtualenv: no pyproject.toml there
    next to src/graceproof.
    """
    if (SOURCE_ROOT / "pyproject.toml").is_file() and (SOURCE_ROOT / "src" / "graceproof").is_dir():
        return SOURCE_ROOT
    return None


def data_root() -> Path:
    """The folder the shipped files are relative to: the checkout, else graceproof/_data."""
    return checkout_root() or INSTALLED_DATA


def data_file(relative: str) -> Path | None:
    """The file `relative` (e.g. "kind-config.yaml") of the checkout, else of the package
    data; None if neither has it (hack/ files, for one, ship only with the checkout)."""
    for base in (checkout_root(), INSTALLED_DATA):
        if base is not None and (base / relative).is_file():
            return base / relative
    return None


def workloads_dir() -> Path:
    """The sample workload's folder (app/, Dockerfile, locustfile.py, manifests/)."""
    return data_root() / "workloads"


def locustfile() -> Path:
    """The locustfile graceproof runs Locust with."""
    return workloads_dir() / "locustfile.py"


def sample_app_dir() -> Path:
    """The sample app's sources (server.py), the build context's app/."""
    return workloads_dir() / "app"


def dockerfile() -> Path:
    """The sample workload's Dockerfile; its build context is `workloads_dir()`."""
    return workloads_dir() / "Dockerfile"


def manifests_dir() -> Path:
    """The example manifests of the sample workload, one YAML file per variant."""
    return workloads_dir() / "manifests"


def kind_config() -> Path:
    """The kind cluster configuration (NodePort mappings to 127.0.0.1, two workers)."""
    return data_root() / "kind-config.yaml"


def repo_workloads_dir() -> Path | None:
    """The workloads/ folder of a source checkout, or None when installed from a wheel:
    where files may be written (the installed package data is read-only in spirit)."""
    root = checkout_root()
    return root / "workloads" if root is not None else None
