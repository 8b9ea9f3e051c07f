"""How the load behaves (LoadSettings): written once, held by a scenario, run by a
load runner (graceproof.load.runner: on the host or in the cluster), and recorded with
the result.

Its environment() is what the locustfile reads; the variables' names, parsers and
defaults are declared once, in workloads/locust_settings.py (graceproof.load.locustfiles).
Everything here is checked before any Locust starts: the locustfile only parses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from graceproof.load import locustfiles
from graceproof.model import ConnectionPolicy
from graceproof.traffic import traffic

__all__ = ["DEFAULT_SOURCE_PORTS", "HTTP_METHODS", "LOAD_MODES", "LoadMode", "LoadSettings"]

# Source ports the locustfile binds for each new connection (see workloads/
# locust_ports.py for why the kernel's own choice is not used on the loopback NodePort
# path); "kernel" turns it off. Below Kubernetes' NodePort range (30000-32767): on kind,
# docker-proxy listens on 127.0.0.1:30080-30089, and a source port taken from there
# (bound, or in TIME-WAIT) both fails that bind and keeps docker-proxy from binding it
# (seen once, creating a container with -p 127.0.0.1:30085).
DEFAULT_SOURCE_PORTS = "10000-29999"
# Methods a load may use: safe to repeat thousands of times against a running app.
HTTP_METHODS = ("GET", "HEAD", "OPTIONS")

LoadMode = Literal["closed", "open"]
"""`closed`: each user waits for an answer before its next request; `open`: requests
arrive at a fixed rate whatever the answers do."""
LOAD_MODES: tuple[LoadMode, ...] = get_args(LoadMode)


@dataclass(frozen=True)
class LoadSettings:
    """How the load behaves, written once: a scenario holds one, LoadRun runs it and the
    result records it."""

    users: int = 10
    connection: ConnectionPolicy = "new"
    timeout_s: float = 2.0  # per request
    wait_s: float = 0.01  # pause of each user between requests
    path: str = "/"
    method: str = "GET"
    host_header: str | None = None  # a Host header, for servers that route by name
    # Statuses that count as success; empty: any status below 400.
    expect_status: tuple[int, ...] = ()
    source_ports: str = DEFAULT_SOURCE_PORTS
    mode: LoadMode = "closed"
    # Open mode: requests per second, all users together (required there; closed-loop
    # users send as fast as the answers come and take no rate).
    rate: float | None = None
    # Locust processes: 1, or more to pass one core's limit (a master and this many
    # workers; each needs a user at least).
    processes: int = 1
    # Open mode, per user: requests in flight at most; None: 2 x the user's rate x
    # timeout_s + 10 (every arrival of two timeouts). An arrival that finds them all
    # busy is recorded as "late".
    max_in_flight: int | None = None
    # Open mode: an arrival that cannot start within this of its intended time is not
    # sent and is recorded with error "late" (its duration counts from the intended time
    # anyway, so a small delay hides nothing).
    late_after_s: float = 0.02
    # Settings of the traffic kind's own locustfile (Traffic.options names them), passed
    # as GRACEPROOF_<NAME>: e.g. {"grpc_delay": "0.2"} for calls in flight at any time.
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be >= 1, not {self.users}")
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', not {self.path!r}")
        if self.method not in HTTP_METHODS:
            raise ValueError(f"method must be one of {HTTP_METHODS}, not {self.method!r}")
        bad = [s for s in self.expect_status if not 100 <= s <= 599]
        if bad:
            raise ValueError(f"expect_status must be HTTP statuses (100-599), not {bad}")
        self._check_mode()
        kind = traffic(self.connection)  # ValueError naming the known kinds
        if self.mode not in kind.modes:
            raise ValueError(
                f"connection {self.connection!r} runs in mode {' or '.join(kind.modes)}, not "
                f"{self.mode!r} ({kind.description})"
            )
        unknown = sorted(set(self.options) - set(kind.options))
        if unknown:
            raise ValueError(
                f"options {unknown} are not settings of connection {self.connection!r}; it "
                f"takes {list(kind.options) or 'none'}"
            )
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1 (1: a single Locust), not {self.processes}")
        if self.processes > self.users:
            raise ValueError(
                f"processes ({self.processes}) must not exceed users ({self.users}): each "
                f"Locust worker runs one user at least; raise users or lower processes"
            )
        if not self.late_after_s > 0:
            raise ValueError(f"late_after_s must be > 0 seconds, not {self.late_after_s}")
        # What the locustfile would refuse to parse (a malformed source_ports, a kind's
        # option that is no number) is refused here, before any Locust starts; the
        # options first: the longest call of a kind is computed from them.
        unreadable = locustfiles.unreadable(locustfiles.environment(self.options))
        unreadable = unreadable or locustfiles.unreadable(self.environment())
        if unreadable:
            raise ValueError(f"the locustfile cannot read: {'; '.join(unreadable)}")

    def _check_mode(self) -> None:
        if self.mode not in LOAD_MODES:
            raise ValueError(f"mode must be one of {LOAD_MODES}, not {self.mode!r}")
        if self.mode == "closed":
            for name in ("rate", "max_in_flight"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} applies to mode='open' only (closed-loop users send when "
                        f"the previous answer came); drop {name} or set mode='open'"
                    )
            return
        if self.rate is None:
            raise ValueError(
                "rate is required when mode='open': the requests per second of all users "
                "together, e.g. LoadSettings(mode='open', rate=200)"
            )
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be a number of requests per second > 0, not {self.rate}")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError(
                f"max_in_flight must be >= 1 (or None for the default), not {self.max_in_flight}"
            )

    @property
    def longest_call_s(self) -> float:
        """The longest one request may take (graceproof.traffic.Traffic.longest_call_s)."""
        return traffic(self.connection).longest_call_s(self)

    @property
    def stop_timeout_s(self) -> int:
        """Locust's --stop-timeout: its users finish the requests in flight, each within
        the longest a request may take (an open-loop one may hang in connect and read)."""
        hang_s = self.longest_call_s if self.mode == "closed" else 2 * self.longest_call_s
        return math.ceil(hang_s) + 1

    def describe(self) -> str:
        """One line for progress output: mode, rate, users, processes, connection."""
        pace = f"open loop at {self.rate:g}/s" if self.mode == "open" else "closed loop"
        procs = f" in {self.processes} processes" if self.processes > 1 else ""
        return (
            f"{pace}, {self.users} users{procs}, {self.connection} connections, "
            f"{self.method} {self.path}"
        )

    def environment(self) -> dict[str, str]:
        """The locustfile's settings, as the environment variables it reads
        (workloads/locust_settings.py names them): every load setting, the users the
        rate is shared by over every Locust process, and the kind's own options."""
        values = {name: getattr(self, name) for name in locustfiles.declared("load")}
        return locustfiles.environment({**values, **self.options})
