"""Every Python snippet of README.md runs as shown: compiled and executed in a fresh
namespace, with its own imports. The snippets build objects and define tests; none
reaches a cluster (the autouse fixture of tests/conftest.py fails any API call). A
block that cannot run without a cluster carries NOT_RUN on the line right above it."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
NOT_RUN = "<!-- not run: needs a cluster -->"
# Blocks allowed to carry NOT_RUN: a few, or the README stops showing working code.
MAX_NOT_RUN = 2
FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Snippet:
    line: int  # of the opening fence, 1-based
    code: str
    not_run: bool


def python_snippets(text: str) -> list[Snippet]:
    snippets = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rpartition("\n")[2]
        line = text.count("\n", 0, match.start()) + 1
        snippets.append(Snippet(line, match.group(1), before.strip() == NOT_RUN))
    return snippets


SNIPPETS = python_snippets(README.read_text(encoding="utf-8"))


def test_readme_has_python_snippets_and_few_marked_not_run() -> None:
    assert len(SNIPPETS) >= 7, f"found only {len(SNIPPETS)} ```python blocks in {README}"
    not_run = [s.line for s in SNIPPETS if s.not_run]
    assert len(not_run) <= MAX_NOT_RUN, f"too many blocks marked {NOT_RUN!r}: lines {not_run}"


def test_snippet_extraction_sees_the_not_run_comment() -> None:
    text = f"a\n\n{NOT_RUN}\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n"
    assert [(s.code, s.not_run) for s in python_snippets(text)] == [
        ("x = 1\n", True),
        ("y = 2\n", False),
    ]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"README.md:{s.line}" for s in SNIPPETS])
def test_readme_python_snippet_runs_as_shown(
    snippet: Snippet, monkeypatch: pytest.MonkeyPatch
) -> None:
    if snippet.not_run:
        pytest.skip(f"README.md:{snippet.line} is marked {NOT_RUN}")
    code = compile(snippet.code, f"README.md:{snippet.line}", "exec")
    # A fresh module, registered while it runs: dataclasses look their class's module up.
    module = types.ModuleType(f"readme_snippet_{snippet.line}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(code, module.__dict__)
