"""probe.pod_port_refuses reads the API server's proxy answer: a test double of the
API for that reading only; tests/e2e/test_own_workload.py proves it on both clusters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from graceproof.probe import pod_port_refuses


class _Answer:
    def __init__(self, status: int, body: str) -> None:
        self.status, self.reason, self.data = status, "", body.encode()
        self.headers: dict[str, str] = {}

    def getheaders(self) -> dict[str, str]:
        return {}

    def release_conn(self) -> None:
        pass


class _Core:
    def __init__(self, answer: _Answer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    def connect_get_namespaced_pod_proxy(self, name: str, namespace: str, **_: Any) -> _Answer:
        self.calls.append((name, namespace))
        if self.answer.status >= 300:
            raise ApiException(http_resp=self.answer)
        return self.answer


class _Kube:
    def __init__(self, answer: _Answer) -> None:
        self.core = _Core(answer)


def _status(code: int, message: str) -> str:
    return json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": code})


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (_Answer(200, "hello"), None),
        # The container's own error statuses: it connects.
        (_Answer(404, "<h1>not found</h1>"), None),
        (_Answer(503, "draining"), None),
        (
            _Answer(
                503,
                _status(
                    503,
                    "error trying to reach service: dial tcp 10.244.1.5:8081: connect: "
                    "connection refused",
                ),
            ),
            "refused",
        ),
        (
            _Answer(
                503,
                _status(
                    503, "error trying to reach service: dial tcp 10.244.1.5:8081: i/o timeout"
                ),
            ),
            "timed out",
        ),
        (
            _Answer(502, _status(502, "error trying to reach service: malformed HTTP response")),
            None,
        ),
        (
            _Answer(
                403,
                _status(
                    403,
                    'pods "web-1" is forbidden: User "ci" cannot get resource "pods/proxy"',
                ),
            ),
            'could not be reached through the API server (pods "web-1" is forbidden: User '
            '"ci" cannot get resource "pods/proxy")',
        ),
    ],
)
def test_the_api_servers_dial_is_read_in_the_callers_words(
    answer: _Answer, why: str | None
) -> None:
    kube = _Kube(answer)
    assert pod_port_refuses(kube, "gp-1", "web-1", 8081) == why  # type: ignore[arg-type]
    assert kube.core.calls == [("web-1:8081", "gp-1")]
