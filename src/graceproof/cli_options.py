"""The `Options` of the `graceproof` command's cluster flags.

The command builds its `Options` where the pytest plugin builds its own, with
`build_options`, and gets its cluster from the same registry (`make_provider`), so a
provider's checks and defaults are written once. What differs is said here: the
command finds an existing cluster's kubeconfig as kubectl does (graceproof.kubeconfig),
reads one environment variable only ($GRACEPROOF_NODE_IMAGE for --node-image; the
plugin's GRACEPROOF_* variables, set by make for the test suite, stay out), and its
messages name its own flags.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from graceproof.config import Options, build_options
from graceproof.errors import OptionError
from graceproof.kubeconfig import find_kubeconfig

__all__ = ["NO_CLUSTER", "existing_options", "kind_options"]

NO_CLUSTER = (
    "no cluster: give --kubeconfig FILE, set $KUBECONFIG, have ~/.kube/config (as kubectl "
    "does), or --kind for a kind cluster made for the run; --dry-run needs none"
)
# The command's environment: its --node-image default, nothing else.
NODE_IMAGE_ENV = "GRACEPROOF_NODE_IMAGE"
# build_options and the providers name the plugin's flags; the command's are these.
_COMMAND_FLAGS = {
    "--gp-cluster-name": "--cluster-name",
    "--gp-k8s-version": "--k8s-version",
    "--gp-keep-cluster": "--keep-cluster",
    "--gp-kubeconfig": "--kubeconfig",
    "--gp-node-image": "--node-image",
    "--gp-run-id": "--run-id",
}


def kind_options(
    *,
    cluster_name: str | None,
    k8s_version: str | None,
    node_image: str | None,
    keep_cluster: bool,
    run_id: str | None,
) -> Options:
    """A kind cluster made for the run; None: kind's default (the node image:
    $GRACEPROOF_NODE_IMAGE, else the pinned one of the minor)."""
    env = {NODE_IMAGE_ENV: os.environ[NODE_IMAGE_ENV]} if NODE_IMAGE_ENV in os.environ else {}
    return _build(
        {
            "gp_provider": "kind",
            "gp_cluster_name": cluster_name,
            "gp_k8s_version": k8s_version,
            "gp_node_image": node_image,
            "gp_keep_cluster": keep_cluster,
            "gp_run_id": run_id,
        },
        env,
    )


def existing_options(
    kubeconfig: Path | None,
    context: str | None,
    *,
    run_id: str | None = None,
    no_cluster: str = NO_CLUSTER,
) -> Options:
    """The cluster kubectl would use (--kubeconfig, else $KUBECONFIG, else
    ~/.kube/config, at --context); OptionError(`no_cluster`) when there is none."""
    source = find_kubeconfig(kubeconfig, context)
    if source is None:
        raise OptionError(no_cluster)
    cli = {"gp_provider": "existing", "gp_kubeconfig": str(source.files[0]), "gp_run_id": run_id}
    return replace(_build(cli, {}), kubeconfig_source=source)


def _build(cli: Mapping[str, object | None], env: Mapping[str, str]) -> Options:
    try:
        return build_options(cli, env, cwd=Path.cwd())
    except OptionError as exc:
        message = str(exc)
        for plugin_flag, flag in _COMMAND_FLAGS.items():
            message = message.replace(plugin_flag, flag)
        raise OptionError(message) from exc
