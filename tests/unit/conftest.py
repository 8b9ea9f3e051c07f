"""Fixtures of the unit tests that talk to a server on 127.0.0.1 (never a cluster)."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "workloads" / "app" / "server.py"


@pytest.fixture(autouse=True)
def _seams_as_found() -> Iterator[None]:
    """Defining a named subclass of a seam registers it (graceproof.registry): what a
    test defines, a README snippet included, is forgotten after it."""
    from graceproof.controllers import KINDS
    from graceproof.disruptions import DISRUPTIONS
    from graceproof.hooks import HOOKS
    from graceproof.ingress import CONTROLLERS, GATEWAYS
    from graceproof.placement import PLACEMENTS
    from graceproof.traffic import TRAFFIC_KINDS

    with contextlib.ExitStack() as stack:
        for registry in (
            KINDS,
            DISRUPTIONS,
            HOOKS,
            CONTROLLERS,
            GATEWAYS,
            PLACEMENTS,
            TRAFFIC_KINDS,
        ):
            stack.enter_context(registry.scratch())
        yield


@dataclass
class RunningApp:
    port: int
    connections: list[int]  # one entry per accepted TCP connection


@pytest.fixture
def app() -> Iterator[RunningApp]:
    """The sample app in this process (it is stdlib only), counting connections."""
    spec = importlib.util.spec_from_file_location("graceproof_app_server_unit", SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = module.App({"PORT": "0", "BIND_ADDRESS": "127.0.0.1", "POD_NAME": "web-0"})
    connections: list[int] = []
    track = state.track

    def counting_track(conn: socket.socket) -> None:
        connections.append(1)
        track(conn)

    state.track = counting_track
    server = module.Server(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield RunningApp(port=server.server_address[1], connections=connections)
    server.shutdown()
    server.server_close()


class HangingServer:
    """Accepts every connection and never answers; counts the connections it holds."""

    def __init__(self) -> None:
        self.held: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port: int = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    """A server whose requests hang until their timeout, as requests to a pod IP that
    vanished do; `held` shows how many connections reached it."""
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture
def hanging_port(hanging_server: HangingServer) -> int:
    return hanging_server.port
