"""graceproof's shipped files: found in the checkout, declared as package data for the
wheel, and found in the package data when there is no checkout. Builds nothing (the
wheel itself is built and installed by tests/cluster/test_wheel.py)."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from graceproof import paths
from graceproof.config import find_repo_file
from graceproof.load import default_locustfile

ROOT = Path(__file__).resolve().parents[2]
DATA_PACKAGE = "graceproof._data"
# What graceproof runs with, relative to the repository root (= graceproof/_data/).
SHIPPED: dict[str, Callable[[], Path]] = {
    "workloads/locustfile.py": paths.locustfile,
    "kind-config.yaml": paths.kind_config,
    "workloads": paths.workloads_dir,
    "workloads/app": paths.sample_app_dir,
    "workloads/Dockerfile": paths.dockerfile,
    "workloads/manifests": paths.manifests_dir,
}


def _setuptools() -> dict[str, Any]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    table = doc["tool"]["setuptools"]
    assert isinstance(table, dict)
    return table


def _data_files() -> list[Path]:
    """Every file of the shipped tree in the checkout, relative to the root."""
    files = [ROOT / "kind-config.yaml"]
    files += [p for p in (ROOT / "workloads").rglob("*") if p.is_file()]
    return sorted(
        p.relative_to(ROOT) for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_from_the_checkout_every_shipped_file_is_the_checkouts_own() -> None:
    assert paths.checkout_root() == ROOT
    assert paths.data_root() == ROOT
    for relative, where in SHIPPED.items():
        assert where() == ROOT / relative, relative
        assert where().exists(), relative
    assert (paths.sample_app_dir() / "server.py").is_file()
    assert sorted(p.name for p in paths.manifests_dir().glob("*.yaml"))
    assert default_locustfile() == ROOT / "workloads" / "locustfile.py"


def test_the_checkouts_own_files_win_over_an_installed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kind-config.yaml").write_text("kind: Cluster\n")
    monkeypatch.setattr(paths, "INSTALLED_DATA", tmp_path)
    assert paths.data_file("kind-config.yaml") == ROOT / "kind-config.yaml"
    assert paths.data_file("hack/versions.env") == ROOT / "hack" / "versions.env"


def test_without_a_checkout_every_shipped_file_comes_from_the_package_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = tmp_path / "site-packages" / "graceproof" / "_data"
    for relative in _data_files():
        (installed / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, installed / relative)
    monkeypatch.setattr(paths, "SOURCE_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(paths, "INSTALLED_DATA", installed)
    monkeypatch.delenv("GRACEPROOF_LOCUSTFILE", raising=False)

    assert paths.checkout_root() is None
    assert paths.repo_workloads_dir() is None
    for relative, where in SHIPPED.items():
        assert where() == installed / relative, relative
        assert where().exists(), relative
    assert default_locustfile() == installed / "workloads" / "locustfile.py"
    # A rootdir without its own kind-config.yaml gets graceproof's (the kind provider).
    assert find_repo_file("kind-config.yaml", tmp_path / "project") == paths.kind_config()
    # hack/ ships only with the checkout: the built-in image name applies then.
    assert paths.data_file("hack/versions.env") is None


def test_every_package_under_src_is_declared() -> None:
    # An explicit list: a subpackage missing from it is missing from the wheel.
    declared = set(_setuptools()["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT / "src").parts)
        for init in (ROOT / "src" / "graceproof").rglob("__init__.py")
    }
    assert found <= declared, sorted(found - declared)


def test_the_data_package_is_the_repository_root_not_a_copy() -> None:
    table = _setuptools()
    assert table["package-dir"][DATA_PACKAGE] == "."
    assert table["package-dir"]["graceproof.fixtures"] == "fixtures"
    # Nothing but the declared data: no README.md or pyproject.toml in graceproof/_data.
    assert table["include-package-data"] is False
    assert not (ROOT / "src" / "graceproof" / "_data").exists()


def test_every_file_of_the_shipped_tree_is_in_the_package_data() -> None:
    table = _setuptools()
    packages = set(table["packages"])
    globs: dict[str, list[str]] = table["package-data"]
    for relative in _data_files():
        package = ".".join((DATA_PACKAGE, *relative.parent.parts))
        assert package in packages, f"{relative}: {package} is not in packages"
        if relative.suffix == ".py":
            continue  # a module of a declared package
        patterns = globs.get(package, [])
        assert any(fnmatch(relative.name, p) for p in patterns), f"{relative}: {patterns}"


def test_the_typing_marker_ships() -> None:
    assert "py.typed" in _setuptools()["package-data"]["graceproof"]
    assert (ROOT / "src" / "graceproof" / "py.typed").is_file()


def test_the_project_is_described_as_a_published_one() -> None:
    # `make dist` builds both distributions and runs `twine check --strict` on them.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression (PEP 639)
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Framework :: Pytest" in project["classifiers"]
    # One version: graceproof.__version__, read by setuptools.
    assert project["dynamic"] == ["version"] and "version" not in project
    dynamic = _setuptools()["dynamic"]["version"]
    assert dynamic == {"attr": "graceproof.__version__"}


def test_the_plugin_and_its_configure_step_leave_the_kubernetes_client_unimported() -> None:
    # pytest loads graceproof's plugin in every session of an environment it is installed
    # in; the kubernetes client cost each start 0.3-0.5 s when imported there.
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; import graceproof.fixtures.plugin; "
        "from graceproof.config import build_options; "
        "build_options({}, {}, cwd=Path('.')); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kubernetes', 'pytest_kubernetes', 'matplotlib', 'locust')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out


def test_the_kubernetes_client_reads_an_endpoint_slice_without_endpoints() -> None:
    # Every Service with no ready pod has one; kubernetes 35 and older raised
    # "Invalid value for `endpoints`, must not be `None`" on it (pyproject.toml's floor).
    from kubernetes import client

    assert client.V1EndpointSlice(address_type="IPv4", endpoints=None).endpoints is None
