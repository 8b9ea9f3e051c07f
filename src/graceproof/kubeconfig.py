"""Which kubeconfig, as kubectl finds it, merged as kubectl merges it, with a context.

    --kubeconfig FILE      that file only
    $KUBECONFIG            a list of files (":"-separated; missing ones skipped), merged:
                           the first file to name a cluster, user or context wins it,
                           and the first current-context set is the current one
    ~/.kube/config         otherwise
    --context NAME         instead of the current context

graceproof then works on a private copy (graceproof.providers.existing): the user's
files are read, never written. Errors name the user's files and context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graceproof.errors import BadKubeconfigError, OptionError
from graceproof.kube import read_kubeconfig

__all__ = ["KubeconfigSource", "find_kubeconfig", "merge_kubeconfigs"]

_SECTIONS = ("clusters", "users", "contexts")


@dataclass(frozen=True)
class KubeconfigSource:
    """The files a cluster is named by, in kubectl's order, and the context to use."""

    files: tuple[Path, ...]
    context: str | None = None
    found_by: str = "--kubeconfig"  # --kubeconfig, $KUBECONFIG or ~/.kube/config

    def describe(self) -> str:
        files = os.pathsep.join(str(f) for f in self.files)
        return f"{files} ({self.found_by})"


def find_kubeconfig(
    flag: Path | None,
    context: str | None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> KubeconfigSource | None:
    """The kubeconfig kubectl would use, or None when there is none at all."""
    env = os.environ if env is None else env
    if flag is not None:
        if flag.is_dir():
            raise OptionError(f"--kubeconfig {flag} is a directory: give the kubeconfig file")
        if not flag.is_file():
            raise OptionError(f"--kubeconfig {flag}: no such file")
        return KubeconfigSource((flag,), context, "--kubeconfig")
    listed = [Path(p) for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        present = tuple(p for p in listed if p.is_file())
        if not present:
            raise OptionError(
                f"KUBECONFIG={env['KUBECONFIG']} names no existing file: fix the variable, "
                "or give --kubeconfig FILE or --kind"
            )
        return KubeconfigSource(present, context, "$KUBECONFIG")
    default = (home or Path.home()) / ".kube" / "config"
    if default.is_file():
        return KubeconfigSource((default,), context, "~/.kube/config")
    return None


def merge_kubeconfigs(
    source: KubeconfigSource, docs: Sequence[Any] | None = None
) -> dict[str, Any]:
    """One kubeconfig from `source.files` (kubectl's merge), its current-context set to
    `source.context` when given. BadKubeconfigError or OptionError naming the files."""
    if docs is None:
        docs = [read_kubeconfig(f)[1] for f in source.files]
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for section in _SECTIONS:
        merged[section] = []
    current = None
    for path, doc in zip(source.files, docs, strict=True):
        if doc is None:
            continue  # an empty file, as kubectl allows
        if not isinstance(doc, dict):
            raise BadKubeconfigError(path, "it is not a kubeconfig (a YAML mapping)")
        for section in _SECTIONS:
            names = {e.get("name") for e in merged[section]}
            for entry in doc.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") not in names:
                    merged[section].append(entry)
                    names.add(entry.get("name"))
        current = current or doc.get("current-context")
    contexts = [str(c.get("name")) for c in merged["contexts"]]
    if not merged["clusters"] or not contexts:
        raise BadKubeconfigError(
            source.files[0],
            f"it has no clusters or contexts ({source.describe()}): give the kubeconfig "
            "of a cluster, or --kind",
        )
    chosen = source.context or current
    if chosen is None:
        raise OptionError(
            f"{source.describe()} sets no current-context: choose one with --context "
            f"(one of {', '.join(contexts)})"
        )
    if chosen not in contexts:
        flag = "--context" if source.context else "current-context"
        raise OptionError(
            f"{flag} {chosen!r} is not in {source.describe()}: choose one of {', '.join(contexts)}"
        )
    merged["current-context"] = chosen
    return merged
