"""Cluster providers: where the test cluster comes from."""

from __future__ import annotations

from pathlib import Path

from graceproof.config import OptionError, Options, find_repo_file
from graceproof.providers.base import ClusterProvider
from graceproof.providers.existing import ExistingProvider
from graceproof.providers.kind import KindProvider

__all__ = ["ClusterProvider", "ExistingProvider", "KindProvider", "make_provider"]

KIND_CONFIG = "kind-config.yaml"


def make_provider(options: Options, state_dir: Path, root: Path | None = None) -> ClusterProvider:
    """The provider `options` ask for; `state_dir` holds its private files and `root`
    (pytest's rootdir) is where kind-config.yaml is looked up first."""
    if options.provider == "existing":
        if options.kubeconfig is None:  # build_options rejects this; narrows the type
            raise OptionError("--gp-provider existing needs --gp-kubeconfig")
        return ExistingProvider(source_kubeconfig=options.kubeconfig, state_dir=state_dir)
    return KindProvider(
        name=options.cluster_name,
        node_image=options.node_image,
        config_file=find_repo_file(KIND_CONFIG, root),
        state_dir=state_dir,
        keep=options.keep_cluster,
    )
