"""graceproof's options: CLI option, then GRACEPROOF_* environment variable, then default.

`build_options` is the one way in: the pytest plugin feeds it the parsed `--gp-*`
values and `os.environ`, `graceproof prove` and `clean` their flags
(graceproof.cli_options); the chosen provider checks and completes its own part
(graceproof.providers). It is pure (values in, `Options` or `OptionError` out), so
every rule is unit-testable.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from graceproof import paths
from graceproof.errors import OptionError
from graceproof.providers import kind_release, provider_class
from graceproof.providers.kind_release import (
    DEFAULT_CLUSTER_NAME,
    DEFAULT_K8S_VERSION,
    KIND_NODE_IMAGES,
    KIND_RELEASE,
)
from graceproof.proxy_mode import check_mode_name

if TYPE_CHECKING:
    from graceproof.kubeconfig import KubeconfigSource

__all__ = [
    "DEFAULT_IMAGE",
    "OPTION_SPECS",
    "OptionError",
    "OptionSpec",
    "Options",
    "build_options",
    "find_repo_file",
    "parse_bool",
    "read_env_file",
]

# The sample workload's image (workloads/Dockerfile), when hack/versions.env is not found.
DEFAULT_IMAGE = "graceproof/workload:0.1.0"
VERSIONS_ENV = "hack/versions.env"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The run id goes into namespace names (63 characters at most) and label values.
_RUN_ID_MAX = 16
# Attempts of a negative control that reproduced nothing (graceproof.controls says why).
CONTROL_ATTEMPTS = 3
MAX_CONTROL_ATTEMPTS = 10
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


@dataclass(frozen=True)
class OptionSpec:
    """One option: its pytest dest, CLI flag, environment variable and help."""

    dest: str
    flag: str
    env: str
    help: str
    is_bool: bool = False
    metavar: str | None = None


OPTION_SPECS: tuple[OptionSpec, ...] = (
    OptionSpec("gp_provider", "--gp-provider", "GRACEPROOF_PROVIDER",
               "cluster provider: kind (create or reuse a kind cluster) or existing "
               "(a cluster given by --gp-kubeconfig). Default: kind.", metavar="{kind,existing}"),
    OptionSpec("gp_kubeconfig", "--gp-kubeconfig", "GRACEPROOF_KUBECONFIG",
               "kubeconfig of the cluster to use; required with --gp-provider existing. "
               "graceproof copies it and never changes it.", metavar="PATH"),
    OptionSpec("gp_cluster_name", "--gp-cluster-name", "GRACEPROOF_CLUSTER_NAME",
               f"kind cluster name (a DNS-1123 label). Default: {DEFAULT_CLUSTER_NAME}.",
               metavar="NAME"),
    OptionSpec("gp_k8s_version", "--gp-k8s-version", "GRACEPROOF_K8S_VERSION",
               f"Kubernetes minor version of the kind cluster, one of "
               f"{', '.join(KIND_NODE_IMAGES)} (kind {KIND_RELEASE} images). "
               f"Default: {DEFAULT_K8S_VERSION}.", metavar="MINOR"),
    OptionSpec("gp_node_image", "--gp-node-image", "GRACEPROOF_NODE_IMAGE",
               "kind node image to create the cluster from instead of the pinned one of "
               "--gp-k8s-version (kind only), e.g. one built without a registry by "
               "hack/kind-node-image.sh.", metavar="IMAGE"),
    OptionSpec("gp_kube_proxy_mode", "--gp-kube-proxy-mode", "GRACEPROOF_KUBE_PROXY_MODE",
               "kube-proxy's mode: a kind cluster is created in it (networking.kubeProxyMode "
               "over kind-config.yaml's); any cluster must run it, or the session stops "
               "naming the mode it runs. Default: the cluster's own.",
               metavar="{iptables,nftables,ipvs}"),
    OptionSpec("gp_keep_cluster", "--gp-keep-cluster", "GRACEPROOF_KEEP_CLUSTER",
               "keep the kind cluster after the session (kind only).", is_bool=True),
    OptionSpec("gp_keep_failed", "--gp-keep-failed", "GRACEPROOF_KEEP_FAILED",
               "keep the namespaces of failed tests for inspection.", is_bool=True),
    OptionSpec("gp_artifacts", "--gp-artifacts", "GRACEPROOF_ARTIFACTS",
               "directory for diagnostics of failed tests. Default: artifacts.", metavar="DIR"),
    OptionSpec("gp_report_dir", "--gp-report-dir", "GRACEPROOF_REPORT_DIR",
               "directory for proof reports. Default: reports.", metavar="DIR"),
    OptionSpec("gp_image", "--gp-image", "GRACEPROOF_IMAGE",
               "workload image reference. Default: WORKLOAD_IMAGE of hack/versions.env, "
               f"else {DEFAULT_IMAGE}.", metavar="IMAGE"),
    OptionSpec("gp_image_archive", "--gp-image-archive", "GRACEPROOF_IMAGE_ARCHIVE",
               "an image tar (docker save) to import into the local cluster.", metavar="TAR"),
    OptionSpec("gp_run_id", "--gp-run-id", "GRACEPROOF_RUN_ID",
               "id labelling everything this session creates. Default: random.", metavar="ID"),
    OptionSpec("gp_control_attempts", "--gp-control-attempts", "GRACEPROOF_CONTROL_ATTEMPTS",
               "attempts of a negative control that reproduces nothing, each kept "
               f"(graceproof.controls), from 1 to {MAX_CONTROL_ATTEMPTS}. "
               f"Default: {CONTROL_ATTEMPTS}.", metavar="N"),
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    """Validated graceproof settings of one pytest session. Provider-specific fields
    are checked (and completed) by the provider's own `check_options`."""

    provider: str  # a name of graceproof.providers.PROVIDERS
    kubeconfig: Path | None
    cluster_name: str
    k8s_version: str | None
    keep_cluster: bool
    keep_failed: bool
    artifacts: Path
    report_dir: Path
    image: str
    image_archive: Path | None
    run_id: str
    # A kind node image given by the user; None: the pinned one of k8s_version.
    kind_node_image: str | None = None
    # The kubeconfig files and context as kubectl finds them (graceproof prove, clean);
    # None: `kubeconfig` alone at its current context (the plugin's --gp-kubeconfig).
    kubeconfig_source: KubeconfigSource | None = None
    # Attempts of a negative control that reproduced nothing (graceproof.controls).
    control_attempts: int = CONTROL_ATTEMPTS
    # kube-proxy's mode asked for (graceproof.proxy_mode); None: the cluster's own.
    kube_proxy_mode: str | None = None

    @property
    def node_image(self) -> str:
        """The kind node image: the one given, else the pinned one of `k8s_version`."""
        return kind_release.node_image(self.kind_node_image, self.k8s_version)


def parse_bool(value: str, *, name: str) -> bool:
    """Parse 1/0/true/false/yes/no (any case); anything else is an `OptionError`."""
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise OptionError(f"{name}={value!r} is not a boolean; use 1/0, true/false or yes/no")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a shell-sourced file; comments and blank lines ignored."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def find_repo_file(relative: str, root: Path | None) -> Path | None:
    """`relative` under pytest's rootdir, else graceproof's own copy: the source
    checkout's, else the installed package data's (`graceproof.paths.data_file`)."""
    if root is not None and (root / relative).is_file():
        return root / relative
    return paths.data_file(relative)


def default_image(root: Path | None) -> str:
    path = find_repo_file(VERSIONS_ENV, root)
    if path is not None:
        image = read_env_file(path).get("WORKLOAD_IMAGE")
        if image:
            return image
    return DEFAULT_IMAGE


def _has_pinned_tag(image: str) -> bool:
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]  # a registry host may carry a :port
    return ":" in last and not last.endswith(":latest")


def _resolve(cli: Mapping[str, object | None], env: Mapping[str, str]) -> dict[str, str | bool]:
    """Each given option's value, CLI first, then the environment; absent ones left out."""
    raw: dict[str, str | bool] = {}
    for spec in OPTION_SPECS:
        value = cli.get(spec.dest)
        if value is not None:
            raw[spec.dest] = value if isinstance(value, bool) else str(value)
        elif env.get(spec.env, "").strip() != "":
            value_text = env[spec.env].strip()
            raw[spec.dest] = parse_bool(value_text, name=spec.env) if spec.is_bool else value_text
    return raw


def _check_name(flag: str, value: str, max_len: int, what: str) -> str:
    if len(value) > max_len or not _DNS_LABEL.match(value):
        raise OptionError(
            f"{flag} {value!r} {what} (lowercase letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {max_len} characters)"
        )
    return value


def _check_attempts(value: str | bool | None) -> int:
    if value is None:
        return CONTROL_ATTEMPTS
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_CONTROL_ATTEMPTS:
        raise OptionError(
            f"--gp-control-attempts {text!r} must be a whole number from 1 to "
            f"{MAX_CONTROL_ATTEMPTS} (1: a negative control is never run again)"
        )
    return int(text)


def _check_image(image: str, flag: str = "--gp-image") -> str:
    if any(c.isspace() for c in image) or not _has_pinned_tag(image):
        raise OptionError(
            f"{flag} {image!r} needs an explicit tag or digest other than latest "
            "(with :latest or no tag, nodes may pull or keep a different image)"
        )
    return image


def build_options(
    cli: Mapping[str, object | None],
    env: Mapping[str, str],
    *,
    cwd: Path,
    root: Path | None = None,
) -> Options:
    """Resolve every option (CLI > env > default) and check the combination.

    `cli` maps `OptionSpec.dest` to the parsed value (None when not given); relative
    paths are taken relative to `cwd`; `root` is where hack/versions.env is looked up.
    The chosen provider checks its own options (graceproof.providers).
    """
    raw = _resolve(cli, env)

    def given_path(dest: str) -> Path | None:
        value = raw.get(dest)
        return None if value is None else (cwd / Path(str(value)).expanduser()).resolve()

    provider = str(raw.get("gp_provider") or "kind").lower()
    image_archive = given_path("gp_image_archive")
    if image_archive is not None and not image_archive.is_file():
        raise OptionError(f"--gp-image-archive {image_archive} does not exist or is not a file")
    options = Options(
        provider=provider,
        kubeconfig=given_path("gp_kubeconfig"),
        cluster_name=_check_name(
            "--gp-cluster-name",
            str(raw.get("gp_cluster_name") or DEFAULT_CLUSTER_NAME),
            63,
            "is not a DNS-1123 label",
        ),
        k8s_version=None if raw.get("gp_k8s_version") is None else str(raw["gp_k8s_version"]),
        keep_cluster=raw.get("gp_keep_cluster") is True,
        keep_failed=raw.get("gp_keep_failed") is True,
        artifacts=given_path("gp_artifacts") or (cwd / "artifacts").resolve(),
        report_dir=given_path("gp_report_dir") or (cwd / "reports").resolve(),
        image=_check_image(str(raw.get("gp_image") or default_image(root))),
        image_archive=image_archive,
        kind_node_image=(
            None
            if raw.get("gp_node_image") is None
            else _check_image(str(raw["gp_node_image"]), "--gp-node-image")
        ),
        run_id=_check_name(
            "--gp-run-id",
            str(raw.get("gp_run_id") or secrets.token_hex(3)),
            _RUN_ID_MAX,
            "must be a DNS-1123 label",
        ),
        control_attempts=_check_attempts(raw.get("gp_control_attempts")),
        kube_proxy_mode=(
            None
            if raw.get("gp_kube_proxy_mode") is None
            else check_mode_name(str(raw["gp_kube_proxy_mode"]))
        ),
    )
    if not raw:
        # No graceproof option at all: another suite in an environment graceproof is
        # installed in, or one that never asks for a cluster. The providers' checks have
        # nothing to refuse, and importing them (the kubernetes client) cost every such
        # pytest start 0.3 s; make_provider checks when a cluster is asked for. The
        # defaults are the default provider's, kind's: its Kubernetes minor.
        return replace(options, k8s_version=DEFAULT_K8S_VERSION)
    return provider_class(provider).check_options(options)
