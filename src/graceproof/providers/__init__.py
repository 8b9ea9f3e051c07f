"""Cluster providers: where the test cluster comes from.

Each provider is one class behind `ClusterProvider`, checking its own options
(`check_options`) and building itself from them (`from_options`). A new provider
(k3d, minikube) is one module and one line in `PROVIDERS`.
"""

from __future__ import annotations

from pathlib import Path

from graceproof.config import OptionError, Options
from graceproof.providers.base import ClusterProvider
from graceproof.providers.existing import ExistingProvider
from graceproof.providers.kind import KindProvider

__all__ = [
    "PROVIDERS",
    "ClusterProvider",
    "ExistingProvider",
    "KindProvider",
    "make_provider",
    "provider_class",
]

PROVIDERS: dict[str, type[ClusterProvider]] = {
    cls.kind: cls for cls in (KindProvider, ExistingProvider)
}


def provider_class(name: str) -> type[ClusterProvider]:
    """The provider registered as `name`; OptionError naming the choices otherwise."""
    cls = PROVIDERS.get(name)
    if cls is None:
        raise OptionError(
            f"--gp-provider {name!r} is unknown; choose one of: {', '.join(PROVIDERS)}"
        )
    return cls


def make_provider(options: Options, state_dir: Path, root: Path | None = None) -> ClusterProvider:
    """The provider `options` ask for; `state_dir` holds its private files and `root`
    (pytest's rootdir) is where kind-config.yaml is looked up first."""
    cls = provider_class(options.provider)
    # Checked again (idempotent): build_options skips the check when no option was
    # given at all, to keep pytest's start light.
    return cls.from_options(cls.check_options(options), state_dir, root)
