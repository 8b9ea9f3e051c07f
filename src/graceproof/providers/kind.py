"""A kind cluster: created (or reused) for the session, deleted at its end unless kept.

Built on pytest-kubernetes' `KindManagerBase`, with the parts that do not hold up
replaced (each override says why). All commands go through an injected `runner`, so
the command lines are unit-tested without running anything.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_kubernetes.providers.kind import KindManagerBase

from graceproof.config import Options, find_repo_file
from graceproof.errors import ClusterUnreachableError, CommandFailedError, OptionError
from graceproof.kube import Kube
from graceproof.providers.base import (
    ClusterProvider,
    Runner,
    Which,
    require_tools,
    run_command,
    write_private,
)
from graceproof.providers.kind_checks import (
    check_docker,
    check_kind_version,
    check_ports,
    check_reused_node_image,
    explain_create_failure,
    kind_config_nodes,
    node_image_present,
    with_proxy_mode,
)
from graceproof.providers.kind_release import (
    DEFAULT_K8S_VERSION,
    KIND_RELEASE,
    normalize_k8s_version,
)
from graceproof.waiting import DEFAULT_TRANSIENT, default_service_account, nodes_ready, wait_for

__all__ = ["KindProvider", "wait_until_ready"]

log = logging.getLogger(__name__)

KIND_CONFIG = "kind-config.yaml"
CREATE_TIMEOUT = 360.0  # kind's own --wait is 120 s; pulling a node image takes longer
COMMAND_TIMEOUT = 300.0  # loading an image, deleting a cluster
QUERY_TIMEOUT = 60.0  # kind get ...
READY_TIMEOUT = 120.0
_TOOLS_NEEDED_FOR = "to run a kind cluster (--gp-provider kind)"

ReadyCheck = Callable[[Path, float, int], None]
"""Waits until the cluster of a kubeconfig is usable with that many nodes, or raises."""


def wait_until_ready(kubeconfig: Path, timeout: float, nodes: int = 1) -> None:
    """Wait until the API server answers, the default ServiceAccount exists, and
    `nodes` nodes (every one of the kind config) are Ready."""
    deadline = time.monotonic() + timeout
    kube = wait_for(
        lambda: Kube.from_kubeconfig(kubeconfig),
        what=f"the API server of {kubeconfig}",
        timeout=timeout,
        interval=1.0,
        transient=(*DEFAULT_TRANSIENT, ClusterUnreachableError),
    )
    with kube:
        default_service_account(kube.core).wait(max(deadline - time.monotonic(), 1.0))
        nodes_ready(kube.core, nodes).wait(max(deadline - time.monotonic(), 1.0))


class _KindManager(KindManagerBase):  # type: ignore[misc]  # the base is untyped
    """pytest-kubernetes' kind manager with its broken parts replaced."""

    def __init__(
        self,
        *,
        cluster_name: str,
        kubeconfig: Path,
        config_file: Path | None,
        node_image: str,
        node_image_given: bool,
        runner: Runner,
        which: Which,
        ready_check: ReadyCheck,
    ) -> None:
        # Set before the base __init__, which calls _set_cluster_name/_ensure_executable.
        self._runner = runner
        self._which = which
        self._ready_check = ready_check
        self._node_image = node_image
        self._node_image_given = node_image_given
        super().__init__(cluster_name=cluster_name, provider_config=None, kubeconfig=kubeconfig)
        # Set after: the base would read the config to take the cluster name from it.
        self._cluster_options.provider_config = config_file
        self._created = False

    def _set_cluster_name(self, cluster_name: str, provider_config: object) -> str:
        # Base: prefixes "pytest-" to the name and prefers a `name:` from the kind
        # config; the cluster must have exactly the name the user gave.
        self._cluster_options.cluster_name = cluster_name
        return cluster_name

    def _ensure_executable(self) -> None:
        # Base: resolves which() into Path("None") and says only "Executable not found";
        # and kind also needs a running docker, and the release its node images are for.
        require_tools(["docker", "kind"], _TOOLS_NEEDED_FOR, self._which)
        log.info("Docker %s answers", check_docker(self._runner))
        check_kind_version(self._runner, KIND_RELEASE, self._node_image_given)

    def _exec(
        self,
        arguments: list[str],
        additional_env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> str:
        # Base: joins the arguments into a shell=True string (any space or quote in a
        # path breaks it) and passes env=os.environ.update(...), which is None and
        # changes our own environment. Here: an argument list, environment untouched.
        return self._runner(["kind", *arguments], timeout or COMMAND_TIMEOUT)

    def _on_create(self, cluster_options: Any, **kwargs: Any) -> None:
        # Base: drops --name and --image whenever --config is given.
        args = ["create", "cluster", "--name", self.cluster_name]
        if cluster_options.provider_config is not None:
            args += ["--config", str(cluster_options.provider_config)]
        args += [
            "--image",
            self._node_image,
            "--kubeconfig",
            str(cluster_options.kubeconfig_path),
            "--wait",
            "120s",
        ]
        self._exec(args, timeout=CREATE_TIMEOUT)

    def _on_delete(self) -> None:
        # Base: no --kubeconfig, so kind would edit the user's ~/.kube/config.
        self._exec(
            ["delete", "cluster", "--name", self.cluster_name, "--kubeconfig", str(self.kubeconfig)]
        )

    def ready(self, timeout: int = 20) -> bool:
        # Base: shells out to kubectl with a quoted --raw='/readyz?verbose' and sleeps
        # in a loop; here the API client with one bounded wait (raises with the state).
        self._ready_check(self.kubeconfig, float(timeout), self._node_count())
        return True

    def _node_count(self) -> int:
        """The nodes the kind config names (kind's default cluster: one)."""
        config = self._cluster_options.provider_config
        if config is None:
            return 1
        return max(1, len(kind_config_nodes(config)))

    def create(
        self, cluster_options: Any = None, timeout: int = int(READY_TIMEOUT), **kwargs: Any
    ) -> None:
        # Base: creates a world-readable temp kubeconfig and decides "exists" by probing
        # it; here reuse is decided by `kind get clusters`, and a reused cluster's
        # kubeconfig is written from `kind get kubeconfig` to our private file.
        clusters = self._exec(["get", "clusters"], timeout=QUERY_TIMEOUT).split()
        if self.cluster_name in clusters:
            check_reused_node_image(self._runner, self.cluster_name, self._node_image)
            log.info("reusing the existing kind cluster %s", self.cluster_name)
            config = self._exec(
                ["get", "kubeconfig", "--name", self.cluster_name], timeout=QUERY_TIMEOUT
            )
            write_private(self.kubeconfig, config)
            self._created = False
        else:
            self.kubeconfig.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            config = self._cluster_options.provider_config
            if config is not None:
                check_ports(config)
            image_here = node_image_present(self._runner, self._node_image)
            log.info(
                "creating kind cluster %s from %s (%s; kind waits up to 120 s for the "
                "control plane)",
                self.cluster_name,
                self._node_image,
                "present in Docker" if image_here else "not in Docker yet: kind pulls it first",
            )
            self._created = True  # set before: a half-created cluster is deleted too
            try:
                self._on_create(self._cluster_options)
            except CommandFailedError as exc:
                explain_create_failure(exc, self._node_image, image_here)
                raise
            if self.kubeconfig.exists():  # kind writes it 0600 already; make sure
                self.kubeconfig.chmod(0o600)
        self.ready(timeout)

    def delete(self) -> None:
        # Base: also sleeps 1 s; the cluster is gone when kind returns.
        if self._created:
            self._on_delete()
            self._created = False


class KindProvider(ClusterProvider):
    """A kind cluster named `name`, from the pinned `node_image`."""

    kind = "kind"

    @classmethod
    def check_options(cls, options: Options) -> Options:
        if options.kubeconfig is not None:
            raise OptionError(
                "--gp-kubeconfig cannot be used with --gp-provider kind: graceproof writes the "
                "kind cluster's kubeconfig to a private file itself. Use --gp-provider existing "
                "to test a cluster you already have."
            )
        minor = normalize_k8s_version(options.k8s_version or DEFAULT_K8S_VERSION)
        options = replace(options, k8s_version=minor)
        given = options.kind_node_image
        # A node image's tag names its Kubernetes (kindest/node:v1.34.11, and hack/'s
        # graceproof/kind-node:v1.34.4-...); another minor asked for would be ignored.
        found = re.search(r":v(\d+\.\d+)\.", given or "")
        if given and found and found.group(1) != options.k8s_version:
            raise OptionError(
                f"--gp-node-image {given} runs Kubernetes {found.group(1)}, but "
                f"--gp-k8s-version asks for {options.k8s_version}: give the node image of "
                "that minor, or the minor of that image"
            )
        return options

    @classmethod
    def from_options(cls, options: Options, state_dir: Path, root: Path | None) -> KindProvider:
        return cls(
            name=options.cluster_name,
            node_image=options.node_image,
            node_image_given=options.kind_node_image is not None,
            config_file=find_repo_file(KIND_CONFIG, root),
            state_dir=state_dir,
            keep=options.keep_cluster,
            proxy_mode=options.kube_proxy_mode,
        )

    def __init__(
        self,
        *,
        name: str,
        node_image: str,
        config_file: Path | None,
        state_dir: Path,
        keep: bool = False,
        node_image_given: bool = False,
        proxy_mode: str | None = None,
        runner: Runner = run_command,
        which: Which = shutil.which,
        ready_check: ReadyCheck = wait_until_ready,
    ) -> None:
        self.name = name
        self.node_image = node_image
        self.node_image_given = node_image_given
        self.config_file = config_file
        self.keep = keep
        self.proxy_mode = proxy_mode
        self._kubeconfig = state_dir / f"kind-{name}.kubeconfig"
        # The kind config with --gp-kube-proxy-mode's mode, written by start().
        self._derived_config = state_dir / f"kind-{name}.config.yaml"
        self._runner = runner
        self._which = which
        self._ready_check = ready_check
        self._manager: _KindManager | None = None

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    @property
    def created(self) -> bool:
        """Whether this provider created the cluster (and so may delete it)."""
        return self._manager is not None and bool(self._manager._created)

    @property
    def deletes_cluster(self) -> bool:
        return self.created and not self.keep

    def start(self) -> None:
        if self.config_file is None:
            log.warning(
                "no kind-config.yaml found: the kind cluster gets no NodePort mappings to "
                "127.0.0.1, so load from the host cannot reach it"
            )
        config_file = self.config_file
        if self.proxy_mode is not None:
            # kind's own field; a reused cluster keeps its mode, which the session
            # checks against the one asked for (graceproof.proxy_mode).
            config_file = with_proxy_mode(config_file, self.proxy_mode, self._derived_config)

        self._manager = _KindManager(
            cluster_name=self.name,
            kubeconfig=self._kubeconfig,
            config_file=config_file,
            node_image=self.node_image,
            node_image_given=self.node_image_given,
            runner=self._runner,
            which=self._which,
            ready_check=self._ready_check,
        )
        self._manager.create()

    def load_image(self, image: str, archive: Path | None = None) -> None:
        if self._manager is None:
            raise RuntimeError("KindProvider.load_image() called before start()")
        if archive is not None:
            # An archive sidesteps `docker save` of multi-arch images, which kind can fail to load.
            self._manager._exec(["load", "image-archive", str(archive), "--name", self.name])
        else:
            self._manager.load_image(image)  # kind load docker-image IMAGE --name NAME

    def stop(self) -> None:
        manager, self._manager = self._manager, None
        try:
            if manager is not None and manager._created:
                if self.keep:
                    log.warning(
                        "kept kind cluster %s; delete it with: kind delete cluster --name %s",
                        self.name,
                        self.name,
                    )
                else:
                    manager.delete()
        finally:
            self._kubeconfig.unlink(missing_ok=True)
            self._derived_config.unlink(missing_ok=True)  # --gp-kube-proxy-mode's
