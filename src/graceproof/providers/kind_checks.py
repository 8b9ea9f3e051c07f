"""What kind needs from this machine, checked before a cluster is created, and kind's
own failures turned into messages that name the cause and the fix.

kind's errors are true but far from their cause: a Docker that cannot start privileged
containers says `unable to apply caps: operation not permitted` from deep inside runc,
a missing node image ends in a pull error after a minute, a taken port in
`driver failed programming external connectivity`. Each check here runs in well under
a second, so a bad machine is refused before anything is created.
"""

from __future__ import annotations

import errno
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from graceproof.errors import CommandFailedError, KindSetupError, OptionError
from graceproof.providers.base import Runner

__all__ = [
    "PortMapping",
    "check_docker",
    "check_kind_version",
    "check_ports",
    "check_reused_node_image",
    "explain_create_failure",
    "kind_config_nodes",
    "missing_capabilities",
    "node_image_present",
    "port_mappings",
    "with_proxy_mode",
]

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 60.0
# Where a machine like graceproof's own CI gets a Docker engine and kind (hack/).
DOCKER_FIX = (
    "start Docker's daemon (on a machine without systemd, graceproof's checkout has "
    "hack/docker.sh up), or use --gp-provider existing with a cluster you have"
)

# Linux capability numbers (linux/capability.h), to name what a bounding set lacks.
# hack/runc_caps.py holds the same table: it runs as dockerd's runtime under the system
# python3, without graceproof installed, so it cannot import this one; a unit test keeps
# the two equal.
_CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def check_docker(runner: Runner) -> str:
    """The Docker server's version; KindSetupError when no daemon answers."""
    try:
        out = runner(["docker", "info", "--format", "{{.ServerVersion}}"], QUERY_TIMEOUT)
    except CommandFailedError as exc:
        first = exc.output.strip().splitlines()[-1:] or ["no output"]
        raise KindSetupError(
            f"no Docker engine answers ('docker info': {first[0]}); kind runs every node "
            f"as a Docker container. To fix: {DOCKER_FIX}."
        ) from exc
    return out.strip()


def check_kind_version(runner: Runner, release: str, node_image_given: bool) -> str:
    """kind's version ("v0.33.0"). Another release than the one the pinned node images
    were built for is refused, as kind's release notes ask; with a node image of the
    user's own it is only logged (they chose the pair)."""
    out = runner(["kind", "version"], QUERY_TIMEOUT)
    found = re.search(r"\bv\d+\.\d+\.\d+\S*", out)
    version = found.group(0) if found else out.strip()
    if version != release:
        message = (
            f"kind {version} is on PATH, but graceproof's pinned node images are built for "
            f"kind {release} (kind's release notes: node images are per release)"
        )
        if not node_image_given:
            raise KindSetupError(
                f"{message}. To fix: install kind {release} (go install "
                f"sigs.k8s.io/kind@{release}), or give a node image built for your kind "
                "with --gp-node-image."
            )
        log.warning("%s; using the node image given by --gp-node-image", message)
    return version


def check_reused_node_image(runner: Runner, cluster: str, image: str) -> None:
    """KindSetupError when an existing cluster of that name runs another node image than
    the one asked for: a cluster left by an earlier run (its nodes restart with Docker)
    would otherwise be proven on silently."""
    node = f"{cluster}-control-plane"
    try:
        running = runner(
            ["docker", "inspect", "--format", "{{.Config.Image}}", node], QUERY_TIMEOUT
        ).strip()
    except CommandFailedError:
        log.warning("could not read the node image of %s; reusing the cluster as it is", node)
        return
    if running != image:
        raise KindSetupError(
            f"a kind cluster named {cluster} exists already and runs {running}, not the node "
            f"image asked for ({image}). To fix: delete it (kind delete cluster --name "
            f"{cluster}) or choose another name (--gp-cluster-name)."
        )


def node_image_present(runner: Runner, image: str) -> bool:
    """Whether Docker has `image` already (else kind pulls it)."""
    try:
        runner(["docker", "image", "inspect", "--format", "{{.Id}}", image], QUERY_TIMEOUT)
    except CommandFailedError:
        return False
    return True


@dataclass(frozen=True)
class PortMapping:
    """One `extraPortMappings` entry of a kind config: where it listens on the host."""

    address: str
    port: int
    protocol: str
    where: str  # "nodes[0].extraPortMappings[3]"


def kind_config_nodes(config_file: Path) -> list[dict[str, Any]]:
    """The `nodes` of a kind config (none listed: kind makes one control plane)."""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    return list(config.get("nodes") or [])


def with_proxy_mode(config_file: Path | None, mode: str, out: Path) -> Path:
    """`config_file` with kube-proxy's mode set (`networking.kubeProxyMode`, kind's own
    field), written to `out`; kind's default cluster when there is no file. Everything
    else of the user's config stays as written."""
    config: dict[str, Any] = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4"}
    if config_file is not None:
        loaded = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise OptionError(f"{config_file} is not a kind config (a YAML mapping)")
        config = loaded
    networking = config.get("networking") or {}
    if not isinstance(networking, dict):
        raise OptionError(f"{config_file}: networking must be a mapping")
    config["networking"] = {**networking, "kubeProxyMode": mode}
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    out.write_text(
        f"# {config_file or 'kind defaults'} with kube-proxy in {mode} mode "
        "(--gp-kube-proxy-mode), written by graceproof\n" + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    return out


def port_mappings(config_file: Path) -> Iterator[PortMapping]:
    """The host ports a kind config asks for (hostPort 0 or absent: kind picks one)."""
    for n, node in enumerate(kind_config_nodes(config_file)):
        for m, mapping in enumerate(node.get("extraPortMappings") or []):
            port = int(mapping.get("hostPort") or 0)
            if port:
                yield PortMapping(
                    address=str(mapping.get("listenAddress") or "0.0.0.0"),
                    port=port,
                    protocol=str(mapping.get("protocol") or "TCP").upper(),
                    where=f"nodes[{n}].extraPortMappings[{m}]",
                )


def check_ports(config_file: Path) -> None:
    """KindSetupError naming the first host port of `config_file` that is taken."""
    for mapping in port_mappings(config_file):
        kind = socket.SOCK_DGRAM if mapping.protocol == "UDP" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as s:
            # As docker-proxy binds (Go sets SO_REUSEADDR): a connection of an earlier
            # cluster still in TIME-WAIT on the port is no holder, a listener is.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((mapping.address, mapping.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise KindSetupError(
                    f"{config_file}: {mapping.where} asks for {mapping.protocol} port "
                    f"{mapping.address}:{mapping.port}, which another process holds. To fix: "
                    f"stop it (`ss -ltnp 'sport = :{mapping.port}'` names it: another kind "
                    "cluster, graceproof's local cluster (hack/local-cluster.sh down), a "
                    "port-forward), or change hostPort in that file."
                ) from exc


def missing_capabilities(status: Path = Path("/proc/self/status")) -> list[str]:
    """The capabilities this machine's bounding set lacks (Docker runs here)."""
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split()[1], 16)
            return [
                f"CAP_{name}" for bit, name in enumerate(_CAPABILITIES) if not bounding >> bit & 1
            ]
    return []


def explain_create_failure(exc: CommandFailedError, node_image: str, image_here: bool) -> None:
    """Raise a KindSetupError naming the cause of a failed `kind create cluster`, when
    its output shows one graceproof knows; return otherwise (the original is raised)."""
    out = exc.output
    if "unable to apply caps" in out or ("operation not permitted" in out and "caps" in out):
        missing = ", ".join(missing_capabilities()) or "a capability"
        raise KindSetupError(
            "Docker could not start a privileged container, which every kind node is "
            f"(runc: unable to apply caps). This machine's capability bounding set lacks "
            f"{missing}, and a privileged container asks for every capability. To fix: run "
            "Docker where the bounding set is full, or register an OCI runtime that drops "
            "the missing ones (graceproof's checkout: hack/docker.sh up does so)."
        ) from exc
    pulled = ("failed to pull image", "pull access denied", "Unable to find image")
    if not image_here and any(p in out for p in pulled):
        raise KindSetupError(
            f"the kind node image {node_image} is not in Docker and could not be pulled. "
            "To fix: let Docker reach its registry, or build a node image without one "
            "(graceproof's checkout: hack/kind-node-image.sh) and pass it with "
            "--gp-node-image."
        ) from exc
    if "port is already allocated" in out or "address already in use" in out:
        raise KindSetupError(
            f"kind could not map a host port of its config: {out.strip().splitlines()[-1]}. "
            "To fix: stop what holds it, or change hostPort in kind-config.yaml."
        ) from exc
