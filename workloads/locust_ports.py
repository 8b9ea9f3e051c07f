"""Where the users' connections go to and come from: the target check, and the source
ports each new connection binds (GRACEPROOF_SOURCE_PORTS, GRACEPROOF_PORT_QUARANTINE).

The target: http://127.0.0.1:<port> only (NodePorts mapped to the loopback), or, when
graceproof runs this Locust inside the cluster, the one address it gave
(GRACEPROOF_TARGET_ADDRESS, the target Service's ClusterIP).

Source ports, FIRST-LAST (default 10000-29999, below the NodePort range, where kind's
docker-proxy listens): each new connection binds the next free source port of the
range, cycling; `kernel` lets the kernel choose. Why: on the loopback NodePort path
(DNAT + SNAT on one host), kernel-chosen ephemeral ports gave about 1 refused connection
in 10^4 with no pod terminating at all (measured on the local cluster: 1-4 per 15,000; 0
in 3 x 15,000 with bound ports), which would blur a zero-error proof.

The quarantine, a JSON file shared by consecutive runs: source ports whose connection got
no answer, with the time until which they are not bound again. Why: such a SYN leaves a
conntrack entry (SYN_SENT, UNREPLIED) NATed to the pod that was gone, for 120 s; a new
connection from the same port to the same node port matches it and goes to the dead pod
again. Seen: a hooked run that reused 10 ports of its negative control's timeouts timed
out 10 times.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import socket
import time
from urllib.parse import urlsplit

from locust_settings import Settings

LOOPBACK = "127.0.0.1"


def _syn_sent_timeout() -> float:
    """How long the kernel keeps an unanswered SYN's conntrack entry (default 120 s)."""
    try:
        with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_syn_sent") as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return 120.0


QUARANTINE_S = _syn_sent_timeout() + 10.0


def load_quarantine(path: str, now: float) -> dict[int, float]:
    """Ports still quarantined at `now` ({port: until}); nothing when there is no file."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {int(p): float(u) for p, u in data.items() if float(u) > now}


def save_quarantine(path: str, ports: dict[int, float]) -> None:
    """Write the quarantine atomically (a rename), merged with what is there now."""
    if not path:
        return
    merged = {**load_quarantine(path, time.time()), **ports}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({str(p): u for p, u in merged.items()}, f)
    os.replace(tmp, path)


def source_ports(spec: str) -> itertools.cycle[int] | None:
    """The cycle of source ports for `spec` (FIRST-LAST, as locust_settings parsed it),
    or None for `kernel`."""
    if spec == "kernel":
        return None
    first, _, last = spec.partition("-")
    lo, hi = int(first), int(last)
    # A random start: back-to-back runs do not reuse the same ports first (their
    # conntrack entries linger for two minutes).
    start = random.randrange(lo, hi + 1)
    return itertools.cycle([*range(start, hi + 1), *range(lo, start)])


class Ports:
    """This process's source ports and their quarantine (set up by `start`)."""

    def __init__(self) -> None:
        self.spec = "kernel"
        self.cycle: itertools.cycle[int] | None = None
        self.count = 0
        self.quarantine: dict[int, float] = {}
        self.quarantine_path = ""
        self.target_address = LOOPBACK

    def start(self, settings: Settings) -> None:
        self.spec = settings.source_ports
        self.cycle = source_ports(self.spec)
        first, _, last = self.spec.partition("-")
        self.count = 0 if self.cycle is None else int(last) - int(first) + 1
        self.target_address = settings.target_address
        if settings.port_quarantine != self.quarantine_path:
            self.quarantine_path = settings.port_quarantine
            self.quarantine = load_quarantine(self.quarantine_path, time.time())

    def save(self) -> None:
        save_quarantine(self.quarantine_path, self.quarantine)


PORTS = Ports()


class BoundConnection(http.client.HTTPConnection):
    """An HTTPConnection whose socket binds the next free port of GRACEPROOF_SOURCE_PORTS.

    A port that is taken is skipped: binding is not part of the request, so it never
    counts as a failed request.
    """

    source_port: int | None = None
    served = 0  # answers on the current socket: more than 0 makes the next one reused

    def connect(self) -> None:
        self.served = 0
        if PORTS.cycle is None:
            super().connect()
            return
        now = time.time()
        for _ in range(PORTS.count):
            port = next(PORTS.cycle)
            if PORTS.quarantine.get(port, 0.0) > now:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                sock.close()
                continue
            self.source_port = port
            break
        else:
            raise OSError(f"no free source port in {PORTS.spec}")
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock


def quarantine_if_unanswered(conn: BoundConnection, error: str | None) -> None:
    if error == "timeout" and conn.source_port is not None:
        # Its SYN may be unanswered: keep the port off until conntrack forgets it.
        PORTS.quarantine[conn.source_port] = time.time() + QUARANTINE_S


class HostRefused(ValueError):
    """The target is not http://127.0.0.1:<port> (or the in-cluster target's address)."""


def loopback_port(host: str | None) -> int:
    """The port of http://127.0.0.1:<port>; anything else is refused.

    Load must only ever reach the loopback address (NodePorts mapped to 127.0.0.1), or
    inside the cluster the one address graceproof gave (GRACEPROOF_TARGET_ADDRESS).
    """
    target = PORTS.target_address
    hint = (
        "graceproof sends load only to http://127.0.0.1:<port> (a NodePort mapped to "
        "loopback)" + ("" if target == LOOPBACK else f" or to http://{target}:<port>")
    )
    if not host:
        raise HostRefused(f"no --host given; {hint}")
    parts = urlsplit(host)
    try:
        port = parts.port
    except ValueError as exc:
        raise HostRefused(f"bad port in --host {host!r}; {hint}") from exc
    if parts.scheme != "http" or parts.hostname not in (LOOPBACK, target) or port is None:
        raise HostRefused(f"refusing --host {host!r}; {hint}")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise HostRefused(f"--host {host!r} must have no path, query or user; {hint}")
    return port
