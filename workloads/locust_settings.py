"""The settings of graceproof's locustfiles, declared once: for each, its name, its
environment variable, how its text is parsed, its default and what it means.

One module that both sides import, so the two cannot drift apart:
- graceproof writes the variables from it (graceproof.load.locustfiles loads this file
  from its workloads/ folder, as it finds the locustfile): LoadSettings.environment() and the
  in-cluster runner's pod environment;
- the locustfiles read them through it, as Locust's own options (`--graceproof-timeout`,
  env var GRACEPROOF_TIMEOUT, ...).

Why a shared module and not a declaration in graceproof with a test that compares the
locustfile's copy: the locustfile cannot import graceproof (it runs in Locust's
gevent-patched process, and in the load image, which has no graceproof), but both can
import a file that ships beside the locustfile, in the wheel's package data and in the
in-cluster runner's ConfigMap of locust*.py files. With one copy there is nothing to
compare; tests/unit/test_locust_settings.py checks what could still differ: the options
real Locust parses, and LoadSettings' own defaults. Standard library only, for the same
reason.

Two scopes:
- load: what LoadSettings decides, the same in every Locust process of a run. Locust
  options, so in distributed mode the master hands its values to its workers.
- process: where this process writes and who it is (each worker its own records file,
  its pod's name). Read from the process's own environment: as Locust options, the
  master's values would replace each worker's.

An empty variable is an unset one. Here a value is only parsed: one that cannot be read,
or an open loop without its rate, is refused; whether the settings make sense together
is LoadSettings' to decide (graceproof.load.settings), before any Locust starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any

PREFIX = "GRACEPROOF_"
MODES = ("closed", "open")
LOAD, PROCESS = "load", "process"


# --- parsers: text -> value, ValueError("must be ...") when the text is not one ---
def text(value: str) -> str:
    return value


def number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"must be a number, not {value!r}") from None


def positive(value: str) -> float:
    parsed = number(value)
    if not (math.isfinite(parsed) and parsed > 0):
        raise ValueError(f"must be a number > 0, not {value!r}")
    return parsed


def whole(value: str) -> int:
    try:
        parsed = int(value)
    except ValueError:
        raise ValueError(f"must be a whole number, not {value!r}") from None
    if parsed < 0:
        raise ValueError(f"must be >= 0, not {value!r}")
    return parsed


def mode(value: str) -> str:
    if value not in MODES:
        raise ValueError(f"must be {' or '.join(map(repr, MODES))}, not {value!r}")
    return value


def statuses(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in value.split(",") if s)
    except ValueError:
        raise ValueError(f"must be HTTP statuses separated by commas, not {value!r}") from None


def port_range(value: str) -> str:
    """`kernel`, or FIRST-LAST within 1024-65535."""
    first, _, last = value.partition("-")
    try:
        ok = value == "kernel" or 1024 <= int(first) <= int(last) <= 65535
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"must be FIRST-LAST within 1024-65535, or kernel: {value!r}")
    return value


def flag(value: str) -> bool:
    return value == "1"


def _setting(
    env: str,
    default: Any,
    parse: Callable[[str], Any],
    help: str,
    scope: str = LOAD,
    kind: str = "",
) -> Any:
    meta = {"env": env, "parse": parse, "help": help, "scope": scope, "kind": kind}
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """The settings' values (attribute names: LoadSettings's), and the declaration:
    each field's metadata says its variable, parser, scope and meaning."""

    # --- load: Locust options, the master's values on every worker ---
    connection: str = _setting(
        "GRACEPROOF_CONNECTION",
        "new",
        text,
        "new: a new TCP connection per request (Connection: close); keepalive: one per "
        "user (closed mode), or a stack of idle ones per user (open mode), reused; or the "
        "traffic kind of another locustfile (locust_grpc.py, locust_websocket.py, "
        "locust_sse.py)",
    )
    mode: str = _setting(
        "GRACEPROOF_MODE",
        "closed",
        mode,
        "closed: each user sends, waits for the answer, pauses GRACEPROOF_WAIT, sends the "
        "next; open: arrivals at GRACEPROOF_RATE whatever the answers do",
    )
    rate: float | None = _setting(
        "GRACEPROOF_RATE",
        None,
        positive,
        "open mode: requests per second, all users together (required)",
    )
    users: int | None = _setting(
        "GRACEPROOF_USERS",
        None,
        whole,
        "open mode: how many users share the rate, over all Locust processes (default: "
        "Locust's --users)",
    )
    max_in_flight: int | None = _setting(
        "GRACEPROOF_MAX_IN_FLIGHT",
        None,
        whole,
        "open mode: requests in flight per user at most (default: 2 x the user's rate x "
        "GRACEPROOF_TIMEOUT + 10, room for every arrival of two timeouts)",
    )
    late_after_s: float = _setting(
        "GRACEPROOF_LATE_AFTER",
        0.02,
        positive,
        "open mode, seconds: an arrival that cannot start within this of its intended "
        "time is not sent but recorded at once as a failure with error `late`",
    )
    timeout_s: float = _setting(
        "GRACEPROOF_TIMEOUT", 2.0, number, "seconds per socket operation (connect, each read)"
    )
    longest_call_s: float | None = _setting(
        "GRACEPROOF_LONGEST_CALL",
        None,
        number,
        "seconds the longest one request of the kind may take; the waits for the requests "
        "in flight at the end use it (default: GRACEPROOF_TIMEOUT)",
    )
    wait_s: float = _setting(
        "GRACEPROOF_WAIT", 0.01, number, "closed mode: pause of each user between requests, seconds"
    )
    path: str = _setting("GRACEPROOF_PATH", "/", text, "request path")
    method: str = _setting("GRACEPROOF_METHOD", "GET", text, "GET, HEAD or OPTIONS")
    host_header: str | None = _setting(
        "GRACEPROOF_HOST_HEADER", None, text, "a Host header to send (default: http.client's own)"
    )
    expect_status: tuple[int, ...] = _setting(
        "GRACEPROOF_EXPECT",
        (),
        statuses,
        "comma-separated statuses that count as success (default: any status below 400)",
    )
    source_ports: str = _setting(
        "GRACEPROOF_SOURCE_PORTS",
        "10000-29999",
        port_range,
        "FIRST-LAST: each new connection binds the next free source port of the range "
        "(below the NodePort range, where kind's docker-proxy listens); kernel: the "
        "kernel chooses (why not by default: locust_ports.py)",
    )
    # The gRPC kinds' own (graceproof.traffic.grpc, LoadSettings.options).
    grpc_delay: float = _setting(
        "GRACEPROOF_GRPC_DELAY",
        0.0,
        number,
        "grpc-unary: seconds the server waits before it answers (calls in flight when a pod stops)",
        kind="grpc",
    )
    stream_messages: int = _setting(
        "GRACEPROOF_STREAM_MESSAGES", 10, whole, "grpc-stream: messages of each stream", kind="grpc"
    )
    stream_interval: float = _setting(
        "GRACEPROOF_STREAM_INTERVAL",
        0.1,
        number,
        "grpc-stream: seconds between two messages of a stream",
        kind="grpc",
    )

    # --- process: this process's own environment, never the master's ---
    records: str = _setting(
        "GRACEPROOF_RECORDS",
        "",
        text,
        "file that receives a JSON line per request (graceproof.model.RequestRecord)",
        PROCESS,
    )
    progress: str = _setting(
        "GRACEPROOF_PROGRESS",
        "",
        text,
        "file that receives a line per held stream opened (kinds whose records come when "
        "streams end)",
        PROCESS,
    )
    port_quarantine: str = _setting(
        "GRACEPROOF_PORT_QUARANTINE",
        "",
        text,
        "JSON file shared by consecutive runs: source ports not to bind again until a "
        "time (locust_ports.py)",
        PROCESS,
    )
    target_address: str = _setting(
        "GRACEPROOF_TARGET_ADDRESS",
        "127.0.0.1",
        text,
        "the one address besides 127.0.0.1 the users may connect to (in the cluster: the "
        "target Service's ClusterIP)",
        PROCESS,
    )
    relay: bool = _setting(
        "GRACEPROOF_RELAY",
        False,
        flag,
        "1: workers send their records to the master in Locust's messages (locust_records.Relay)",
        PROCESS,
    )
    pod: str | None = _setting(
        "GRACEPROOF_POD",
        None,
        text,
        "the pod's name, on each relayed record (default: the host name)",
        PROCESS,
    )
    counts: str = _setting(
        "GRACEPROOF_COUNTS",
        "",
        text,
        "the master's file of per-worker record counts (relay)",
        PROCESS,
    )

    def update(self, other: Settings) -> None:
        """Take every value of `other` (in place: every module holds this object)."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))


@dataclass(frozen=True)
class Setting:
    """One row of the declaration."""

    name: str  # the attribute of Settings and of graceproof's LoadSettings
    env: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    scope: str
    kind: str  # a traffic kind's own setting (LoadSettings.options), or ""

    @classmethod
    def of(cls, f: Field[Any]) -> Setting:
        m = f.metadata
        return cls(f.name, m["env"], m["parse"], f.default, m["help"], m["scope"], m["kind"])

    @property
    def option(self) -> str:
        """Locust's option: --graceproof-timeout for GRACEPROOF_TIMEOUT."""
        return "--" + self.env.lower().replace("_", "-")

    @property
    def dest(self) -> str:
        """Its attribute in Locust's parsed options: graceproof_timeout."""
        return self.env.lower()


SETTINGS: tuple[Setting, ...] = tuple(Setting.of(f) for f in fields(Settings))
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def render(value: Any) -> str:
    """A value as its variable's text: the inverse of its parser (None: empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def variable(name: str) -> str:
    """A setting's variable; GRACEPROOF_<NAME> for a traffic kind's own setting that is
    not declared here (someone's own locustfile reads it from its environment)."""
    return BY_NAME[name].env if name in BY_NAME else PREFIX + name.upper()


def environment(values: Mapping[str, Any]) -> dict[str, str]:
    """The variables of settings given by name, as the locustfile reads them."""
    return {variable(name): render(value) for name, value in values.items()}


def read(options: Any, environ: Mapping[str, str]) -> tuple[Settings, list[str]]:
    """The settings of this process and what could not be read: load settings from
    Locust's parsed options (None: from `environ` too), process ones from `environ`."""
    values: dict[str, Any] = {}
    problems = []
    for s in SETTINGS:
        if s.scope == LOAD and options is not None and hasattr(options, s.dest):
            raw = getattr(options, s.dest)
        else:
            raw = environ.get(s.env, "")
        if raw is None or raw == "":
            continue  # unset: the default
        try:
            values[s.name] = s.parse(str(raw))
        except ValueError as exc:
            problems.append(f"{s.env} {exc}")
    settings = Settings(**values)
    if settings.mode == "open" and settings.rate is None:
        problems.append(
            f"{BY_NAME['mode'].env}=open needs {BY_NAME['rate'].env}, requests per second > 0"
        )
    return settings, problems


def add_options(parser: Any) -> None:
    """The load settings as options of Locust's parser (a LocustArgumentParser, in the
    locustfile's `init_command_line_parser` listener), each with its variable; graceproof's
    plumbing, kept out of Locust's web UI."""
    for s in SETTINGS:
        if s.scope != LOAD:
            continue
        parser.add_argument(
            s.option,
            dest=s.dest,
            env_var=s.env,
            default=render(s.default),
            metavar=s.env.removeprefix(PREFIX),
            help=s.help.replace("%", "%%"),
            include_in_web_ui=False,
        )
