"""Cluster providers: where the test cluster comes from.

Each provider is one class behind `ClusterProvider`, checking its own options
(`check_options`) and building itself from them (`from_options`). Every way in, the
pytest plugin, `graceproof prove` and `graceproof clean` alike, builds an `Options`
(graceproof.config) and asks `make_provider` for its cluster.

A new provider (k3d, minikube) is one module and one line in `PROVIDER_MODULES`: the
seams' one registry type (graceproof.registry), holding where each provider lives
rather than its class, since a provider is imported when it is first asked for. The
options name this package at every pytest start, where the providers' kubernetes
client cost 0.3 s (tests/unit/test_packaging.py).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from graceproof.providers.base import ClusterProvider
from graceproof.registry import Registry

if TYPE_CHECKING:
    from graceproof.config import Options
    from graceproof.providers.existing import ExistingProvider
    from graceproof.providers.kind import KindProvider

    # The registered name -> class, built on first use by __getattr__ below.
    PROVIDERS: dict[str, type[ClusterProvider]]

__all__ = [
    "PROVIDERS",
    "PROVIDER_MODULES",
    "ClusterProvider",
    "ExistingProvider",
    "KindProvider",
    "make_provider",
    "provider_class",
]

# A provider's registered name (its `kind`) -> its module and class.
PROVIDER_MODULES: Registry[tuple[str, str]] = Registry("cluster provider (--gp-provider)")
PROVIDER_MODULES.register("kind", ("graceproof.providers.kind", "KindProvider"))
PROVIDER_MODULES.register("existing", ("graceproof.providers.existing", "ExistingProvider"))


def provider_class(name: str) -> type[ClusterProvider]:
    """The provider registered as `name`; UnknownNameError (an OptionError) naming the
    choices otherwise, as every seam's registry says it."""
    module, attr = PROVIDER_MODULES.lookup(name)
    cls: type[ClusterProvider] = getattr(importlib.import_module(module), attr)
    return cls


def make_provider(options: Options, state_dir: Path, root: Path | None = None) -> ClusterProvider:
    """The provider `options` ask for; `state_dir` holds its private files and `root`
    (pytest's rootdir) is where kind-config.yaml is looked up first."""
    cls = provider_class(options.provider)
    # Checked again (idempotent): build_options skips the check when no option was
    # given at all, to keep pytest's start light.
    return cls.from_options(cls.check_options(options), state_dir, root)


def __getattr__(name: str) -> object:
    # PEP 562: `from graceproof.providers import KindProvider` (or PROVIDERS) imports
    # that provider on first use, not when the package is imported.
    if name == "PROVIDERS":
        return {registered: provider_class(registered) for registered in PROVIDER_MODULES}
    for registered, (_, attr) in PROVIDER_MODULES.items():
        if attr == name:
            return provider_class(registered)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
