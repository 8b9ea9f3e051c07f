"""A command run on a node itself, for what the API cannot do (a node's D-Bus signals).

Found from the node's `spec.providerID`, which says how the node runs: kind writes
`kind://<runtime>/<cluster>/<node>` (runtime docker or podman), and a kind node is a
container of that runtime, so `<runtime> exec <node> ...` runs in it. A node of
another kind is one more class here, registered under its providerID's scheme; a node
that gives no way in is refused, naming the node and its providerID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graceproof.errors import GraceproofError
from graceproof.providers.base import Runner, run_command

__all__ = ["KindNodeShell", "NodeShell", "NodeShellUnavailableError", "node_shell_for"]


class NodeShellUnavailableError(GraceproofError):
    """graceproof has no way to run a command on this node."""


class NodeShell(Protocol):
    @property
    def node(self) -> str:
        """The name the shell reaches the node by (the container's, on kind)."""
        ...

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> str:
        """The command's output; CommandFailedError when it fails."""
        ...


@dataclass(frozen=True)
class KindNodeShell:
    """`docker exec` (or `podman exec`) into a kind node's container."""

    node: str
    runtime: str = "docker"
    runner: Runner = run_command

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> str:
        return self.runner([self.runtime, "exec", self.node, *argv], timeout)


def node_shell_for(node: Any, runner: Runner = run_command) -> NodeShell:
    """The shell of a V1Node, from its providerID."""
    name = node.metadata.name
    provider_id = (node.spec.provider_id if node.spec is not None else None) or ""
    scheme, _, rest = provider_id.partition("://")
    parts = rest.split("/")
    if scheme == "kind" and len(parts) == 3 and parts[0] in ("docker", "podman"):
        return KindNodeShell(node=parts[2], runtime=parts[0], runner=runner)
    raise NodeShellUnavailableError(
        f"node {name} (spec.providerID {provider_id or 'empty'}) gives graceproof no way to "
        "run a command on it: only kind nodes (providerID kind://docker/... or "
        "kind://podman/...) are reached, with docker or podman exec. Run this disruption "
        "on a kind cluster"
    )
