"""Fixtures of the unit tests that talk to a server on 127.0.0.1 (never a cluster)."""

from __future__ import annotations

import importlib.util
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "workloads" / "app" / "server.py"


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


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A server that accepts every connection and never answers: requests hang until
    their timeout, as requests to a pod IP that vanished do."""
    held: list[socket.socket] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()
