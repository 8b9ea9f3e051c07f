"""No import circle among graceproof's modules, read from the source (nothing imported).

A circle makes the order modules are first imported in decide whether a name exists
yet; config.py and the providers had one, hidden by an import inside a function. So
the scan takes every import a module can run, at its top level and inside functions
alike (those deferred for pytest's start-up cost, tests/unit/test_packaging.py), and
leaves out only those under `if TYPE_CHECKING:`, which mypy alone reads.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where each package's files are (pyproject.toml's package-dir).
PACKAGE_DIRS = {"graceproof": ROOT / "src" / "graceproof", "graceproof.fixtures": ROOT / "fixtures"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [*package.split("."), *path.relative_to(folder).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in {
        "TYPE_CHECKING",
        "typing.TYPE_CHECKING",
    }


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif _is_type_checking(child):
            assert isinstance(child, ast.If)
            for other in child.orelse:
                yield from _runtime_imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _runtime_imports(child)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports_of(name: str) -> set[str]:
    """The graceproof modules `name` imports, its own packages left out (a submodule
    is always loaded inside its package's import)."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
            base = ".".join([*anchor, base] if base else anchor)
        targets.add(base)
        targets.update(f"{base}.{alias.name}" for alias in node.names)
    own = set(_ancestors(name))
    loaded = {a for t in targets for a in [*_ancestors(t), t]}
    return {m for m in loaded if m in MODULES and m not in own and m != name}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of `graph`, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_scan_sees_the_imports_it_should() -> None:
    # The scan itself: imports at the top and in functions count, TYPE_CHECKING ones not.
    assert "graceproof.providers" in _imports_of("graceproof.config")
    assert "graceproof.providers" in _imports_of("graceproof.fixtures.plugin")  # in a fixture
    assert "graceproof.fixtures.proofs" in _imports_of("graceproof.fixtures.plugin")  # relative
    assert "graceproof.providers.kind_release" in _imports_of("graceproof.config")
    assert "graceproof.config" not in _imports_of("graceproof.providers")
    assert "graceproof.providers.base" in _imports_of("graceproof.providers.kind")
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_among_graceproofs_modules() -> None:
    graph = {name: _imports_of(name) for name in MODULES}
    circle = _circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


@pytest.mark.parametrize("name", ["graceproof.config", "graceproof.providers"])
def test_the_options_and_the_provider_registry_import_no_provider(name: str) -> None:
    # What every way in (plugin, command) imports to build Options: no provider module
    # (the registry imports the one asked for by name), so no kubernetes client at
    # pytest's start.
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_imports_of(module))
    assert not {"graceproof.providers.kind", "graceproof.providers.existing"} & seen
