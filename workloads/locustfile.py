"""Locust load for graceproof: <method> <path> on http://127.0.0.1:<port>, a JSON line a request.

The file Locust runs (`locust -f locustfile.py`): graceproof.load starts it as a
subprocess on the host (host_run.py), or as Locust's master and workers in pods
(cluster_run.py, from a ConfigMap of graceproof's locust*.py files). It wires Locust's
events to the modules beside it, one job each:

  locust_settings.py  the settings, declared once and shared with graceproof: each
                      GRACEPROOF_* variable, its parser, default and meaning; Locust
                      options here, so a master hands them to its workers
  locust_users.py     the users: closed and open loop, the connection policies
  locust_records.py   the records, their error kinds, and in the cluster the relay of
                      the workers' records to the master
  locust_ports.py     the target check, the source ports and their quarantine

Self-contained on purpose: they run inside Locust's gevent-patched process, which must
not import graceproof, and in the load image (workloads/load/), which has Locust and
its dependencies only. The locustfiles of the other traffic kinds (locust_grpc.py,
locust_websocket.py, locust_sse.py) import this one as their base.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from locust import events
from locust.runners import WorkerRunner

import locust_settings
from locust_ports import PORTS, HostRefused, loopback_port
from locust_records import RECORDS, RELAY, Outcome, classify, report
from locust_users import (
    GraceproofUser,
    OpenLoopUser,
    finish_in_flight,
    is_stopping,
    longest_call_s,
    settings,
)

__all__ = [
    "CONNECTIONS",
    "GraceproofUser",
    "OpenLoopUser",
    "Outcome",
    "classify",
    "is_stopping",
    "progress",
    "report",
    "settings",
]

# Connection policies a loaded locustfile runs: this file's; the locustfile of another
# traffic kind (locust_grpc.py, locust_websocket.py, locust_sse.py) imports this one as
# its base and adds its own names before Locust reads the settings.
CONNECTIONS = {"new", "keepalive"}
# A held stream opened (kinds whose records come when streams end).
progress = RECORDS.progress
# Every user class of the loaded locustfiles, both modes (Locust's list keeps one mode's).
_all_users: list[Any] = []


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kwargs: Any) -> None:
    locust_settings.add_options(parser)


def _read(environment: Any) -> list[str]:
    """Fill `settings` from Locust's options (a worker's: the master's, once it sends
    users) and this process's environment; what could not be read, if anything."""
    new, problems = locust_settings.read(environment.parsed_options, os.environ)
    if new.connection not in CONNECTIONS:
        problems.append(
            f"{locust_settings.BY_NAME['connection'].env} must be one of "
            f"{sorted(CONNECTIONS)} for this locustfile, not {new.connection!r}"
        )
    if problems:
        return problems
    settings.update(new)
    PORTS.start(settings)
    RECORDS.start(settings)
    # Locust runs the user classes of the mode asked for: each class says its own.
    if not _all_users:
        _all_users.extend(environment.user_classes)
    environment.user_classes[:] = [u for u in _all_users if u.load_mode == settings.mode]
    if not environment.user_classes:
        return [f"this locustfile has no user for {settings.mode!r} mode"]
    return []


def _refuse(problems: list[str]) -> None:
    for problem in problems:
        sys.stderr.write(f"graceproof: {problem}\n")
    sys.exit(2)


@events.init.add_listener
def _start(environment: Any, **_kwargs: Any) -> None:
    # Runs before any user starts: a refused setting or host means no request is ever sent.
    problems = _read(environment)
    if problems:
        _refuse(problems)
    try:
        loopback_port(environment.host)
    except HostRefused as exc:
        _refuse([str(exc)])
    if settings.relay:
        RELAY.setup(environment, settings, longest_call_s())


@events.test_start.add_listener
def _take_the_masters_settings(environment: Any, **_kwargs: Any) -> None:
    # A worker, before it spawns users: Locust has copied the master's options over its
    # own. The master read the same values at its start, so they are never refused here.
    if isinstance(environment.runner, WorkerRunner):
        for problem in _read(environment):
            sys.stderr.write(f"graceproof: the master's settings: {problem}\n")


# On `quit`, not `quitting`: on SIGTERM (how graceproof stops a run) Locust fires
# `quitting` before it stops the users, whose requests in flight then finish and
# must still be recorded; `quit` comes after the runner has stopped.
@events.quit.add_listener
def _close_records(**_kwargs: Any) -> None:
    RECORDS.close()
    PORTS.save()


events.test_stop.add_listener(finish_in_flight)
