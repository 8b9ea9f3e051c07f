"""tests/hack_builds.py: what only some tests need is built when the first of them
comes, once per session, its progress on the terminal naming the test; a variable
that is set is used as it is; a failed build fails the test with the command."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest


def _script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "build.sh"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return script


TESTS = Path(__file__).resolve().parents[1]


def _inner(pytester: pytest.Pytester, script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The inner run is a subprocess: it finds hack_builds where the outer one does.
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    pytester.makepyfile(
        test_inner=textwrap.dedent(
            f"""
            import os
            import pytest
            from hack_builds import HackBuild

            TOOL = HackBuild("GP_TEST_TOOL", ({str(script)!r},), "a test tool")

            @pytest.fixture(scope="session")
            def tool(request):
                return TOOL.path(request)

            def test_first(tool):
                assert os.environ["GP_TEST_TOOL"] == tool

            def test_second(tool):
                assert tool.endswith("made")
            """
        )
    )


def test_built_once_when_first_needed_with_the_test_named(
    pytester: pytest.Pytester, run_inner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = tmp_path / "count"
    script = _script(tmp_path, f"echo building >&2; echo x >> {count}; echo /cache/tool-made")
    _inner(pytester, script, monkeypatch)
    monkeypatch.delenv("GP_TEST_TOOL", raising=False)
    result = run_inner("-s", subprocess=True)
    result.assert_outcomes(passed=2)
    assert count.read_text().count("x") == 1
    result.stdout.fnmatch_lines(
        ["*graceproof: a test tool, first needed by test_inner.py::test_first*"]
    )


def test_a_variable_that_is_set_is_used_without_building(
    pytester: pytest.Pytester, run_inner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script(tmp_path, "exit 1")
    _inner(pytester, script, monkeypatch)
    monkeypatch.setenv("GP_TEST_TOOL", "/given/tool-made")
    run_inner(subprocess=True).assert_outcomes(passed=2)


def test_a_failed_build_fails_the_tests_naming_the_command(
    pytester: pytest.Pytester, run_inner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script(tmp_path, "echo broken >&2; exit 3")
    _inner(pytester, script, monkeypatch)
    monkeypatch.delenv("GP_TEST_TOOL", raising=False)
    result = run_inner(subprocess=True)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*{script} failed (exit 3)*set GP_TEST_TOOL*"])
