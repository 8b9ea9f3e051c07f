"""What a cluster provider does, and the command runner the providers share."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from graceproof.errors import CommandFailedError, MissingToolError
from graceproof.started import Started

if TYPE_CHECKING:
    from graceproof.config import Options
    from graceproof.kube import Kube
    from graceproof.measurement import ClusterInfo

__all__ = [
    "ClusterProvider",
    "Runner",
    "Which",
    "cluster_info",
    "require_tools",
    "run_command",
    "write_private",
]

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str], float], str]
"""Runs an argument list with a timeout (s); returns stdout; raises CommandFailedError."""

Which = Callable[[str], str | None]
"""Finds a program on PATH (shutil.which)."""


def run_command(argv: Sequence[str], timeout: float) -> str:
    """Run `argv` (never through a shell); stdout on success, else CommandFailedError."""
    argv = [str(a) for a in argv]
    log.info("running: %s", " ".join(argv))
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=dict(os.environ),  # a copy: nothing we run changes our environment
        )
    except subprocess.TimeoutExpired as exc:
        output = "\n".join(_text(x) for x in (exc.stdout, exc.stderr) if x)
        raise CommandFailedError(argv, None, output or f"no output within {timeout:g}s") from exc
    except FileNotFoundError as exc:
        raise MissingToolError(argv[0], "to run graceproof's cluster commands") from exc
    if proc.returncode != 0:
        raise CommandFailedError(argv, proc.returncode, (proc.stderr or "") + (proc.stdout or ""))
    return proc.stdout


def _text(data: str | bytes) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def require_tools(tools: Sequence[str], needed_for: str, which: Which = shutil.which) -> None:
    """MissingToolError naming the first of `tools` that is not on PATH."""
    for tool in tools:
        if which(tool) is None:
            raise MissingToolError(tool, needed_for)


def write_private(path: Path, content: str) -> Path:
    """Write `content` to `path` readable by the owner only (mode 0600, dir 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that existed
    return path


class ClusterProvider(Started):
    """A cluster for one test session.

    `name` is the cluster's name, `kind` the provider's registered name ("kind",
    "existing") and `kubeconfig` a private kubeconfig file valid after `start()`. Used
    as a context manager, a failed or interrupted `start()` is cleaned up by `stop()`
    before the error propagates; `stop()` is safe to call more than once.
    """

    kind: ClassVar[str]
    name: str

    @classmethod
    def check_options(cls, options: Options) -> Options:
        """Refuse options that make no sense for this provider (OptionError saying
        which and why); return them, completed with this provider's defaults."""
        return options

    @classmethod
    @abstractmethod
    def from_options(cls, options: Options, state_dir: Path, root: Path | None) -> ClusterProvider:
        """The provider for checked `options`; private files go to `state_dir`, and
        `root` (pytest's rootdir) is where project files are looked up first."""

    @property
    @abstractmethod
    def kubeconfig(self) -> Path:
        """The private kubeconfig of the cluster (exists between start and stop)."""

    @property
    def deletes_cluster(self) -> bool:
        """Whether `stop()` will delete the cluster (then its namespaces need no sweep)."""
        return False

    @abstractmethod
    def start(self) -> None:
        """Create (or find) the cluster and write the private kubeconfig."""

    @abstractmethod
    def load_image(self, image: str, archive: Path | None = None) -> None:
        """Make `image` available to the cluster's nodes (from `archive` when given)."""

    @abstractmethod
    def stop(self) -> None:
        """Remove what `start()` made that is not to be kept."""

    def stop_after(self, failed: bool) -> None:
        # The same whether the block or the start failed: stop() keeps what is kept.
        self.stop()


def cluster_info(provider: ClusterProvider, kube: Kube) -> ClusterInfo:
    """What each result says of the cluster it ran on: the provider, the cluster's
    name, its Kubernetes version and kube-proxy's mode, as the API server tells."""
    from graceproof.measurement import ClusterInfo
    from graceproof.proxy_mode import read_proxy_mode

    return ClusterInfo(
        provider.kind, provider.name, kube.server_version(), proxy_mode=read_proxy_mode(kube)
    )
