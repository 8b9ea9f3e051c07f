#!/usr/bin/env python3
"""runc, minus the capabilities that this machine's bounding set lacks.

Why it exists: on some VMs every process's capability bounding set lacks a
capability (here CAP_SYS_RESOURCE: CapBnd 000001fffeffffff). Docker asks runc for
every capability for `docker run --privileged` and `docker exec --privileged`
(kind runs and enters its node containers that way); runc cannot grant one the
bounding set lacks and fails with "unable to apply caps: operation not permitted".
hack/docker.sh registers this program as its dockerd's default runtime only when
the bounding set lacks a capability that Docker asks for; on a user's machine
Docker is used as it is, with plain runc.

What it does: for `create` and `run` it edits the bundle's config.json (the bundle
is --bundle/-b, else the working directory), for `exec` the --process/-p file; in
every capability list (bounding, effective, inheritable, permitted, ambient) it
keeps only the capabilities in this process's bounding set (a container could
never hold the others), writes the file back, and execs runc with the same
arguments. Every other command goes to runc unchanged.

It also turns IP forwarding on inside a container that has a network namespace of
its own (`linux.sysctl`, namespaced: the host's stays off). hack/docker.sh turns the
host's forwarding off, and a new namespace copies the host's value, so kind's nodes
started without it. A node forwards between its pods and the other nodes (a NodePort
published on the control-plane node leads to pods on the workers), and only the CNI
plugin's first pod on a node turned it on: when no pod of the pod network landed on
the control-plane node, every NodePort on 127.0.0.1 went unanswered (seen once in CI).
Docker on a user's machine forwards by default, so their nodes start with it.
"""

import json
import os
import shutil
import sys
from typing import Any

# Linux capability numbers (include/uapi/linux/capability.h), 0 to 40.
CAPS = [
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
# runc's global options that take a value as the next argument.
GLOBAL_WITH_VALUE = {"--root", "--log", "--log-format", "--criu"}
RUNC = os.environ.get("GRACEPROOF_RUNC") or shutil.which(
    "runc", path="/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
)


def bounding_set() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    raise RuntimeError("no CapBnd in /proc/self/status")


def option(args: list[str], long: str, short: str) -> str | None:
    """The value of --long VALUE, --long=VALUE, -s VALUE or -s=VALUE in args."""
    for i, a in enumerate(args):
        for name in (long, short):
            if a == name and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(name + "="):
                return a[len(name) + 1 :]
    return None


def drop_missing(caps: dict[str, Any], bnd: int) -> bool:
    """The capability sets of an OCI process without the capabilities bnd lacks."""
    changed = False
    for key, names in caps.items():
        if not isinstance(names, list):
            continue
        kept = [
            n
            for n in names
            if not (n.startswith("CAP_") and n[4:] in CAPS and not bnd >> CAPS.index(n[4:]) & 1)
        ]
        if kept != names:
            caps[key] = kept
            changed = True
    return changed


def forward_in_own_netns(spec: Any) -> bool:
    """Set net.ipv4.ip_forward=1 in a bundle whose container gets a network namespace
    of its own (runc refuses net.* sysctls in the host's); whether it changed."""
    linux = spec.get("linux")
    if not isinstance(linux, dict):
        return False
    own_netns = any(
        ns.get("type") == "network" and not ns.get("path")
        for ns in linux.get("namespaces") or []
        if isinstance(ns, dict)
    )
    sysctl = linux.setdefault("sysctl", {}) if own_netns else {}
    if not own_netns or sysctl.get("net.ipv4.ip_forward") == "1":
        return False
    sysctl["net.ipv4.ip_forward"] = "1"
    return True


def edit(path: str, in_process: bool) -> None:
    with open(path) as f:
        spec: Any = json.load(f)
    caps = (
        (spec.get("process") or {}).get("capabilities") if in_process else spec.get("capabilities")
    )
    dropped = isinstance(caps, dict) and drop_missing(caps, bounding_set())
    # A bundle (create, run) has `linux`; an exec's process file has not.
    if forward_in_own_netns(spec) | dropped:
        tmp = path + ".graceproof-tmp"
        with open(tmp, "w") as f:
            json.dump(spec, f)
        os.replace(tmp, path)


def main(argv: list[str]) -> None:
    if not RUNC:
        sys.exit("graceproof-runc: runc not found (apt-get install runc)")
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in GLOBAL_WITH_VALUE else 1
    command, rest = (argv[i], argv[i + 1 :]) if i < len(argv) else ("", [])
    if command in ("create", "run"):
        edit(
            os.path.join(option(rest, "--bundle", "-b") or os.getcwd(), "config.json"),
            in_process=True,
        )
    elif command == "exec":
        process = option(rest, "--process", "-p")
        if process:
            edit(process, in_process=False)
    os.execv(RUNC, [RUNC, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
