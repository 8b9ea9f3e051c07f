"""Where a failed request failed, and whether a client would have sent it again.

A failure inside a termination window has one of a few causes, and they call for
different fixes. The locustfile records, for each request that got no full answer, the
stage it reached and whether its connection had carried an answer before
(`RequestRecord.detail`: `stage`, `reused`); with the record's error kind, status and
pod, that places it:

- `stale_endpoint`: refused, or no connection at all (timed out connecting): the path
  still sent it to a pod whose port was closed. What a preStop sleep covers.
- `retryable`: closed or reset before any byte of the answer, on a reused keep-alive
  connection, with an idempotent method. The server closed an idle connection just as
  the request went out: a race every HTTP/1.1 server has when it closes idle
  connections (RFC 9112, section 9.3.1), and why browsers, Go's http.Client and
  urllib3 with retries send such a request again. From the client's side it cannot be
  told apart from a request the app received and dropped unanswered at its exit, so
  both are here: a retrying client would send either again, which is safe for an
  idempotent method only. Whether they count against the verdict is the scenario's
  choice (`Scenario.count_retryable`, `--retryable-count`).
- `dropped`: the request went out and no byte of the answer came (closed, reset or
  timed out), and it is not retryable as above. Either the app dropped it, or a proxy
  in front (kind's docker-proxy, which maps a node port to 127.0.0.1; a TCP load
  balancer) took the connection and could not reach the pod: behind such a proxy a
  stale endpoint shows here, not as a refusal.
- `cut`: part of the answer came, then the connection broke: the request was cut in
  the middle.
- `ingress`: an error status from a proxy in the path (no X-Pod-Name: not the app's).
- `status`: an error status from the app itself.
- `unclassified`: the record does not say where (a traffic kind that records no stage,
  such as a gRPC call or a stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graceproof.model import RequestRecord

FAILURE_CLASSES = (
    "stale_endpoint",
    "retryable",
    "dropped",
    "cut",
    "ingress",
    "status",
    "unclassified",
)

# RFC 9110, section 9.2.2: a client may send these again without changing the outcome.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

_CLOSED = frozenset({"remote_disconnected", "connection_reset"})
_STATUS = frozenset({"http_5xx", "http_other"})


@dataclass(frozen=True)
class FailureContext:
    """What the run knows beside the record: the method, and a proxy in the path."""

    idempotent: bool = True
    proxied: bool = False

    @classmethod
    def of(cls, parameters: Mapping[str, Any]) -> FailureContext:
        """From a result's parameters (graceproof.scenario.Scenario.parameters)."""
        load = parameters.get("load") or {}
        workload = parameters.get("workload") or {}
        method = str(load.get("method") or "GET").upper()
        # ThroughIngress's parameters name its controller (graceproof.ingress).
        proxied = workload.get("controller") is not None
        return cls(idempotent=method in IDEMPOTENT_METHODS, proxied=proxied)


# A GET straight to the Service: what a record without a run's parameters is taken as.
DIRECT_GET = FailureContext()


def failure_class(record: RequestRecord, context: FailureContext) -> str | None:
    """The class of a failed request (FAILURE_CLASSES); None for one that succeeded or
    was never sent (an open-loop arrival too late)."""
    if record.ok or record.late:
        return None
    if record.error == "connection_refused":
        return "stale_endpoint"
    if record.error in _STATUS:
        return "ingress" if context.proxied and not record.pod else "status"
    stage = record.detail.get("stage")
    if stage == "connect":
        return "stale_endpoint"
    if stage == "sent":
        reused = bool(record.detail.get("reused"))
        if record.error in _CLOSED and reused and context.idempotent:
            return "retryable"
        return "dropped"
    if stage == "answer":
        return "cut"
    return "unclassified"
