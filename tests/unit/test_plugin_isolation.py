"""Installing graceproof keeps Locust's pytest plugin out of other suites.

Locust's plugin (fixtures session/fastsession, option -H/--host) would otherwise load
into every pytest run of the environment; a suite with its own --host then fails. Each
case runs a separate pytest process, so the entry points load as in a user's run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--host", default="mine")
"""
_TEST = """
def test_own_host(pytestconfig):
    assert pytestconfig.getoption("--host") == "mine"
"""


def _run(
    tmp_path: Path, *args: str, keep: bool = False, conftest: str = _CONFTEST
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_suite.py").write_text(_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("GRACEPROOF_LOCUST_PYTEST_PLUGIN", None)
    if keep:
        env["GRACEPROOF_LOCUST_PYTEST_PLUGIN"] = "keep"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--fixtures", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        # The installed order: here Locust's entry point loads before graceproof's.
        (),
        # graceproof's plugin first, as another order of the installed distributions has it.
        ("-p", "no:graceproof", "-p", "graceproof.fixtures.plugin"),
    ],
    ids=["installed-order", "graceproof-first"],
)
def test_a_suite_with_its_own_host_option_runs_without_locusts_plugin(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    listed = _run(tmp_path, *args)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "fastsession" not in listed.stdout
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout


def test_a_suite_that_wants_locusts_plugin_keeps_it(tmp_path: Path) -> None:
    listed = _run(tmp_path, keep=True, conftest="")
    assert "fastsession" in listed.stdout, listed.stdout + listed.stderr
