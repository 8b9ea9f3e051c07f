"""The traffic seam: how the load's clients talk to the workload.

A traffic kind is one small class, registered by defining it: its name (the
scenario's connection policy, in ids and results), the locustfile that runs its
clients, the named port of the workload it enters, the load modes it supports and
what its records say beyond the common counts. The scenario, the load runner and the
analysis do not change for a new kind:

    class Mqtt(Traffic):
        name = "mqtt"
        locustfile = "locust_mqtt.py"      # under workloads/, beside locustfile.py
        port = "mqtt"                      # Target.node_ports["mqtt"]
        error_kinds = ("mqtt_refused",)

Every kind writes the same records (graceproof.model.RequestRecord: t, duration, ok,
status, error, pod, and its own `detail`), so windows, bounds and verdicts apply to
all of them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from graceproof.model import RequestRecord
from graceproof.registry import Registry

__all__ = ["TRAFFIC_KINDS", "Traffic", "describe_summary", "kinds", "traffic"]


class Traffic:
    """A kind of traffic; subclasses that set `name` register themselves."""

    name: ClassVar[str] = ""
    """The connection policy: in scenario ids, results and `--connection`."""
    description: ClassVar[str] = ""
    locustfile: ClassVar[str] = "locustfile.py"
    """The locustfile that runs its clients, relative to graceproof's workloads/."""
    port: ClassVar[str] = "http"
    """The workload port it enters: `http` is Target.node_port, any other name a key
    of Target.node_ports."""
    modes: ClassVar[tuple[str, ...]] = ("closed", "open")
    """Load modes (graceproof.load.LoadMode) its locustfile implements."""
    error_kinds: ClassVar[tuple[str, ...]] = ()
    """Error kinds of its records beyond graceproof.model.ERROR_KINDS."""
    options: ClassVar[tuple[str, ...]] = ()
    """Settings its locustfile reads (LoadSettings.options, as GRACEPROOF_<NAME>)."""
    requires: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(module, extra): Python modules its locustfile imports beyond Locust's, each
    with the extra of graceproof that installs it (`pip install 'graceproof[grpc]'`)."""
    routes_each_request: ClassVar[bool] = False
    """Whether every request is a routing decision of the path (a new connection
    each): only then do the records measure the propagation lag."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        TRAFFIC_KINDS.register_class(cls, "name")

    def missing(self) -> str | None:
        """What this Python lacks to run the kind's locustfile, with the fix, or None."""
        for module, extra in self.requires:
            if importlib.util.find_spec(module) is None:
                return (
                    f"the {self.name!r} traffic kind needs the Python module {module!r}, which "
                    f"is not installed: pip install 'graceproof[{extra}]'"
                )
        return None

    def longest_call_s(self, settings: Any) -> float:
        """The longest one request of this kind may take with these LoadSettings (its
        timeout by default): the stop of a run waits that long for those in flight."""
        return float(settings.timeout_s)

    def summarize(self, records: Sequence[RequestRecord]) -> dict[str, Any] | None:
        """Figures of this kind beyond the common counts (the result's `traffic`), or
        None when it has none."""
        return None

    def describe(self, summary: Mapping[str, Any]) -> str:
        """The summary in words, for reports."""
        return _plain(summary)


# Every traffic kind by its name (the connection policy), filled as they are defined.
TRAFFIC_KINDS: Registry[type[Traffic]] = Registry("connection policy (traffic kind)", Traffic)


def _plain(summary: Mapping[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items())


def describe_summary(connection: str, summary: Mapping[str, Any] | None) -> str:
    """A result's traffic summary in words; plain where its kind is not registered (a
    result of someone's own kind, read elsewhere)."""
    if not summary:
        return ""
    cls = TRAFFIC_KINDS.get(connection)
    return cls().describe(summary) if cls is not None else _plain(summary)


def kinds() -> tuple[str, ...]:
    """The names of every registered traffic kind."""
    return TRAFFIC_KINDS.names()


def traffic(name: str) -> Traffic:
    """The traffic kind called `name`; UnknownNameError (a ValueError) naming the known
    ones otherwise."""
    return TRAFFIC_KINDS.lookup(name)()
