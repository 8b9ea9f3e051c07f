"""A cluster that already exists, given by a kubeconfig: nothing is created or deleted.

graceproof works on a private copy of the kubeconfig (mode 0600), so the user's file
is never written (the kubernetes client may persist refreshed credentials).
Images can be loaded only where graceproof knows how: next to a kubeconfig written
by hack/local-cluster.sh lies a `cluster.env` naming the node's containerd socket.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from graceproof.config import Options, read_env_file
from graceproof.errors import (
    CommandFailedError,
    ImageNotAvailableError,
    MissingToolError,
    OptionError,
)
from graceproof.kube import read_kubeconfig
from graceproof.kubeconfig import KubeconfigSource, merge_kubeconfigs
from graceproof.providers.base import ClusterProvider, Runner, Which, run_command, write_private

__all__ = ["ExistingProvider", "containerd_ref"]

log = logging.getLogger(__name__)

CLUSTER_ENV = "cluster.env"
IMPORT_TIMEOUT = 300.0
QUERY_TIMEOUT = 60.0
# kubeconfig fields holding file paths, which are relative to the kubeconfig's directory.
_PATH_FIELDS = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}


def containerd_ref(image: str) -> str:
    """The name containerd stores `image` under: docker.io/[library/] added as docker does."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return image  # already names a registry
    return f"docker.io/{image}" if sep else f"docker.io/library/{image}"


def _absolute_paths(doc: Any, base: Path) -> Any:
    """The kubeconfig with relative certificate/key paths made absolute against `base`,
    so the copy in another directory still finds them."""
    if not isinstance(doc, dict):
        return doc
    for section, fields in _PATH_FIELDS.items():
        for entry in doc.get(section) or []:
            inner = (
                entry.get("cluster" if section == "clusters" else "user")
                if isinstance(entry, dict)
                else None
            )
            if not isinstance(inner, dict):
                continue
            for field in fields:
                value = inner.get(field)
                if isinstance(value, str) and value and not os.path.isabs(value):
                    inner[field] = str((base / value).resolve())
    return doc


class ExistingProvider(ClusterProvider):
    """The cluster of `source_kubeconfig`, used as it is."""

    kind = "existing"

    @classmethod
    def check_options(cls, options: Options) -> Options:
        kubeconfig = options.kubeconfig
        if kubeconfig is None:
            raise OptionError(
                "--gp-provider existing needs --gp-kubeconfig (or GRACEPROOF_KUBECONFIG): "
                "the kubeconfig of the cluster to test against"
            )
        if not kubeconfig.is_file():
            raise OptionError(f"--gp-kubeconfig {kubeconfig} does not exist or is not a file")
        if options.k8s_version is not None:
            raise OptionError(
                "--gp-k8s-version applies to kind only: with --gp-provider existing the "
                "cluster's version is whatever it runs"
            )
        if options.keep_cluster:
            raise OptionError(
                "--gp-keep-cluster applies to kind only: with --gp-provider existing "
                "graceproof creates and deletes no cluster"
            )
        if options.kind_node_image is not None:
            raise OptionError(
                "--gp-node-image applies to kind only: with --gp-provider existing "
                "graceproof creates no cluster"
            )
        return options

    @classmethod
    def from_options(cls, options: Options, state_dir: Path, root: Path | None) -> ExistingProvider:
        if options.kubeconfig is None:  # check_options refuses this; narrows the type
            raise OptionError("--gp-provider existing needs --gp-kubeconfig")
        return cls(
            source_kubeconfig=options.kubeconfig,
            state_dir=state_dir,
            source=options.kubeconfig_source,
        )

    def __init__(
        self,
        *,
        source_kubeconfig: Path,
        state_dir: Path,
        runner: Runner = run_command,
        which: Which = shutil.which,
        source: KubeconfigSource | None = None,
    ) -> None:
        """`source`, when given, names the files ($KUBECONFIG's list) and the context
        as kubectl finds them (graceproof.kubeconfig); `source_kubeconfig` is its first."""
        self.source_kubeconfig = source_kubeconfig
        self.source = source
        self.name = source_kubeconfig.stem
        self._kubeconfig = state_dir / "existing.kubeconfig"
        self._runner = runner
        self._which = which
        self.cluster_env: dict[str, str] = {}

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    def start(self) -> None:
        src = self.source_kubeconfig
        if self.source is not None:
            docs = [
                _absolute_paths(read_kubeconfig(f)[1], f.resolve().parent)
                for f in self.source.files
            ]
            merged = merge_kubeconfigs(self.source, docs)
            self.name = str(merged["current-context"])
            text = yaml.safe_dump(merged, sort_keys=False)
            # cluster.env belongs to the cluster of the chosen context: the file that
            # defines that context, not the first of $KUBECONFIG's list (images would
            # otherwise go into one cluster while the proof runs on another).
            src = next(
                (
                    f
                    for f, doc in zip(self.source.files, docs, strict=True)
                    if isinstance(doc, dict)
                    and any(c.get("name") == self.name for c in doc.get("contexts") or [])
                ),
                src,
            )
        else:
            text, doc = read_kubeconfig(src)
            if isinstance(doc, dict):
                self.name = str(doc.get("current-context") or self.name)
                text = yaml.safe_dump(_absolute_paths(doc, src.resolve().parent), sort_keys=False)
        write_private(self._kubeconfig, text)
        env_file = src.resolve().parent / CLUSTER_ENV
        self.cluster_env = read_env_file(env_file) if env_file.is_file() else {}

    def containerd_addresses(self) -> list[str]:
        """Every node's containerd socket (cluster.env: CONTAINERD_ADDRESSES, the
        space-separated list of a cluster of several nodes, else CONTAINERD_ADDRESS)."""
        many = self.cluster_env.get("CONTAINERD_ADDRESSES", "").split()
        one = self.cluster_env.get("CONTAINERD_ADDRESS")
        return many or ([one] if one else [])

    def load_image(self, image: str, archive: Path | None = None) -> None:
        addresses = self.containerd_addresses()
        if not addresses:
            # Only hack/'s local cluster says (cluster.env) where its containerd is.
            log.log(
                logging.WARNING if archive is not None else logging.INFO,
                "cluster %s: graceproof cannot load images into it (no %s next to its "
                "kubeconfig)%s; %s must already be pullable by its nodes",
                self.name,
                CLUSTER_ENV,
                f", so {archive} was not imported" if archive is not None else "",
                image,
            )
            return
        ctr = self.cluster_env.get("CTR", "ctr")
        if self._which(ctr) is None:
            raise MissingToolError(ctr, f"to load {image} into containerd at {addresses[0]}")
        # Every node: a pod may be scheduled, or rescheduled by a drain, on any of them.
        for address in addresses:
            self._load_into([ctr, "--address", address, "-n", "k8s.io", "images"], image, archive)

    def _load_into(self, images: list[str], image: str, archive: Path | None) -> None:
        """Import `archive` (if any) with `images` (ctr ... images), then check `image`."""
        if archive is not None:
            self._runner([*images, "import", str(archive)], IMPORT_TIMEOUT)
        ref = containerd_ref(image)

        def present() -> bool:
            listed = self._runner([*images, "ls", "-q", f"name=={ref}"], QUERY_TIMEOUT).split()
            return ref in listed

        if present():
            return
        if archive is None and self._docker_save(image, images):
            log.info("imported %s from the local Docker engine (docker image save)", image)
            if present():
                return
        source = f"after importing {archive}" if archive else "and no --gp-image-archive was given"
        raise ImageNotAvailableError(
            f"image {ref} is not in the cluster's containerd ({images[2]}) {source}. "
            "Build and import it (hack/ scripts), pass a `docker save` tar "
            "(--gp-image-archive, graceproof prove --image-archive), or build it where a "
            "Docker engine runs (it is then imported by docker image save)."
        )

    def _docker_save(self, image: str, images: list[str]) -> bool:
        """Import `image` from a local Docker engine, when there is one that has it."""
        if self._which("docker") is None:
            return False
        with tempfile.TemporaryDirectory(prefix="graceproof-image-") as tmp:
            tar = str(Path(tmp) / "image.tar")
            try:
                self._runner(["docker", "image", "save", "-o", tar, image], IMPORT_TIMEOUT)
            except CommandFailedError as exc:  # no engine, or it lacks the image
                log.info("docker image save %s failed: %s", image, exc.output.strip())
                return False
            self._runner([*images, "import", tar], IMPORT_TIMEOUT)
        return True

    def stop(self) -> None:
        self._kubeconfig.unlink(missing_ok=True)
