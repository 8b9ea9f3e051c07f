"""Where a team's manifests come from: YAML files or folders, a kustomize folder, or a
Helm chart. Each source is one small class behind `ManifestSource`; each renders to
`Doc`s (a manifest and where it came from, file and line) with real tools only:
`kubectl kustomize` and `helm template`, never a hand-written renderer.

    ManifestFiles((Path("deploy/"),)).render()
    Kustomization(Path("deploy/overlays/prod")).render()
    HelmChart(Path("chart"), values=(Path("ci.yaml"),), set=("replicas=2",)).render()
"""

from __future__ import annotations

import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from graceproof.config import OptionError
from graceproof.errors import CommandFailedError, MissingToolError, WorkloadSpecError
from graceproof.providers.base import Runner, run_command

__all__ = [
    "Doc",
    "HelmChart",
    "Kustomization",
    "ManifestFiles",
    "ManifestSource",
    "find_tool",
    "parse_yaml",
]

RENDER_TIMEOUT = 120.0
_YAML_SUFFIXES = (".yaml", ".yml")
# Where hack/ builds its tools (graceproof's own cache), searched after PATH.
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "graceproof"


@dataclass(frozen=True)
class Doc:
    """One manifest and where it came from (`file:line`, or the renderer's output)."""

    body: dict[str, Any]
    origin: str

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def ref(self) -> str:
        """`deployment/web`, as kubectl names objects."""
        return f"{self.kind.lower()}/{self.name}"


def parse_yaml(text: str, origin: str) -> list[Doc]:
    """Every non-empty document of a multi-document YAML text. A syntax error or a
    document that is no Kubernetes object raises WorkloadSpecError with file and line."""
    loader = yaml.SafeLoader(text)
    docs: list[Doc] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            line = node.start_mark.line + 1
            body = loader.construct_document(node)
            if body is None:
                continue
            where = f"{origin}:{line}"
            if not isinstance(body, dict) or not body.get("kind") or not body.get("apiVersion"):
                raise WorkloadSpecError(
                    f"{where}: not a Kubernetes object (a mapping with apiVersion and kind)"
                )
            if not (body.get("metadata") or {}).get("name"):
                raise WorkloadSpecError(f"{where}: {body['kind']} has no metadata.name")
            docs.append(Doc(body, where))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        raise WorkloadSpecError(f"{at}: YAML error: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise WorkloadSpecError(f"{origin}: YAML error: {exc}") from exc
    finally:
        loader.dispose()
    return docs


_HOMES = {"helm": "helm.sh/docs/intro/install/", "kubectl": "kubernetes.io/docs/tasks/tools/"}


def find_tool(name: str, env_var: str, cache_pattern: str) -> str:
    """`$env_var`, else `name` on PATH, else the newest build in graceproof's cache
    (hack/ builds pinned tools there); MissingToolError saying how to get it."""
    given = os.environ.get(env_var)
    if given:
        found = shutil.which(given)
        if found is None:
            raise OptionError(
                f"{env_var}={given} is not an executable file: point {env_var} at {name}, "
                f"or unset it to use the {name} on PATH"
            )
        return found
    on_path = shutil.which(name)
    if on_path:
        return on_path
    # The newest version, by number (v3.22 after v3.9), of what hack/ built.
    built = sorted(
        _CACHE.glob(cache_pattern),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)],
    )
    if built:
        return str(built[-1])
    raise MissingToolError(
        name,
        f"to render manifests with {name}",
        # hack/tools.sh builds it pinned in a checkout of graceproof; a wheel has no hack/.
        f"install {name} (https://{_HOMES.get(name, name)}), or set {env_var}=/path/to/{name}",
    )


class ManifestSource(ABC):
    """Renders a team's manifests to Docs."""

    kind: ClassVar[str]

    @abstractmethod
    def render(self) -> list[Doc]:
        """The manifests, in order; WorkloadSpecError on bad input."""

    @abstractmethod
    def describe(self) -> str:
        """One line for logs and reports, e.g. `kustomize deploy/prod`."""


@dataclass(frozen=True)
class ManifestFiles(ManifestSource):
    """YAML files, or folders of them (`*.yaml`, `*.yml`, sorted, not recursive)."""

    kind: ClassVar[str] = "files"
    paths: tuple[Path, ...]

    def files(self) -> Iterator[Path]:
        for path in self.paths:
            if path.is_dir():
                found = sorted(p for p in path.iterdir() if p.suffix in _YAML_SUFFIXES)
                if not found:
                    raise WorkloadSpecError(f"{path}: no *.yaml or *.yml file in this folder")
                yield from found
            elif path.is_file():
                yield path
            else:
                raise WorkloadSpecError(f"{path}: no such file or folder")

    def render(self) -> list[Doc]:
        docs: list[Doc] = []
        for path in self.files():
            docs += parse_yaml(path.read_text(encoding="utf-8"), str(path))
        return docs

    def describe(self) -> str:
        return "manifests " + " ".join(str(p) for p in self.paths)


def _run_renderer(argv: Sequence[str], what: str, runner: Runner) -> str:
    try:
        return runner(argv, RENDER_TIMEOUT)
    except CommandFailedError as exc:
        # The tool's own message is the one that helps: show it whole.
        raise WorkloadSpecError(f"{what} failed:\n{exc.output.strip()}") from exc


@dataclass(frozen=True)
class Kustomization(ManifestSource):
    """A kustomize folder, rendered by `kubectl kustomize` (kubectl's built-in kustomize)."""

    kind: ClassVar[str] = "kustomize"
    path: Path
    runner: Runner = field(default=run_command, repr=False, compare=False)

    def render(self) -> list[Doc]:
        if (
            not (self.path / "kustomization.yaml").is_file()
            and not (self.path / "kustomization.yml").is_file()
        ):
            raise WorkloadSpecError(f"{self.path}: no kustomization.yaml in this folder")
        kubectl = find_tool("kubectl", "GRACEPROOF_KUBECTL", "bin/k8s-*/kubectl")
        argv = [kubectl, "kustomize", str(self.path)]
        text = _run_renderer(argv, f"kubectl kustomize {self.path}", self.runner)
        return parse_yaml(text, f"kubectl kustomize {self.path} (output)")

    def describe(self) -> str:
        return f"kustomize {self.path}"


@dataclass(frozen=True)
class HelmChart(ManifestSource):
    """A Helm chart, rendered by `helm template` with values files and --set pairs."""

    kind: ClassVar[str] = "helm"
    path: Path
    values: tuple[Path, ...] = ()
    set: tuple[str, ...] = ()
    release: str = "graceproof"
    runner: Runner = field(default=run_command, repr=False, compare=False)

    def argv(self, helm: str) -> list[str]:
        # --skip-tests: what `helm install` creates has no test hooks (`helm test` runs
        # them later); graceproof.workloads.manifests leaves out any that remain.
        argv = [helm, "template", self.release, str(self.path), "--skip-tests"]
        for values in self.values:
            argv += ["--values", str(values)]
        for pair in self.set:
            if "=" not in pair:
                raise WorkloadSpecError(f"--set {pair!r}: expected KEY=VALUE")
            argv += ["--set", pair]
        return argv

    def render(self) -> list[Doc]:
        if not (self.path / "Chart.yaml").is_file():
            raise WorkloadSpecError(f"{self.path}: no Chart.yaml, so not a Helm chart")
        for values in self.values:
            if not values.is_file():
                raise WorkloadSpecError(f"--values {values}: no such file")
        helm = find_tool("helm", "GRACEPROOF_HELM", "bin/helm-*/helm")
        text = _run_renderer(self.argv(helm), f"helm template {self.path}", self.runner)
        return parse_yaml(text, f"helm template {self.path} (output)")

    def describe(self) -> str:
        extra = [f"--values {v}" for v in self.values] + [f"--set {s}" for s in self.set]
        return " ".join([f"chart {self.path}", *extra])
