"""Plain data shared by every part of graceproof: requests, timeline events, results.

Times are Unix epoch seconds (float) everywhere, taken from the host clock; the
local cluster and kind both run on the host, so pod and host clocks agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

ConnectionPolicy = str
"""The name of a traffic kind (graceproof.traffic): `new`, a new TCP connection per
request; `keepalive`, one connection per user, reused; `grpc-unary`, `grpc-stream`,
`websocket`, `sse`; or a kind of one's own."""

Expected = Literal["errors", "no-errors", "informative"]
"""What a proof must show: `errors` for a negative control, `no-errors` otherwise;
`informative` for a result kept only to show something, held to nothing."""
EXPECTATIONS: tuple[Expected, ...] = get_args(Expected)

# Kinds of client-side failure, as the locustfile classifies them (a traffic kind adds
# its own: graceproof.traffic.base.Traffic.error_kinds).
ERROR_KINDS = (
    "connection_refused",
    "connection_reset",
    "remote_disconnected",
    "timeout",
    "http_5xx",
    "http_other",
    "other",
    "late",  # open-loop load: not sent, as it could not start on time (a saturated generator)
)

# Kinds of timeline event; `detail` carries the rest.
EVENT_KINDS = (
    "pod_created",  # pod object created
    "pod_scheduled",  # bound to a node (detail: node)
    "pod_ready",  # Ready condition became True
    "pod_deleted",  # deletionTimestamp set (the start of termination)
    "pod_gone",  # pod object removed from the API
    # DisruptionTarget condition True (detail: reason, message): how a pod no one deletes
    # starts terminating (the kubelet's, at a node's graceful shutdown)
    "pod_disrupted",
    "endpoint_not_ready",  # EndpointSlice endpoint of the pod: ready=False
    "endpoint_removed",  # endpoint of the pod no longer in any slice
    "endpoint_ready",  # endpoint became ready
    "hook_start",  # preStop hook began (from the hook's own output)
    "hook_end",  # preStop hook finished
    "sigterm",  # the app received SIGTERM (from the app's log)
    "app_exit",  # the app exited (from the app's log)
    # one outbound call of the app (its OUTBOUND_URL; detail: ok, status, ms, error)
    "outbound_call",
    # a container's process logged a signal it received (nginx's notice; detail:
    # container, signal, number; graceproof.log_signals)
    "container_signal",
    "container_started",  # containerStatus running (detail: container, restart_count)
    "container_terminated",  # containerStatus terminated (detail: reason, exitCode)
    "k8s_event",  # a Kubernetes Event (detail: reason, message)
    "disruption",  # graceproof acted (detail: action)
    "watch_gap",  # a source was cut off from the API server (detail: graceproof.gaps)
)


@dataclass(frozen=True)
class RequestRecord:
    """One request (an HTTP request, a gRPC call, a stream) made by the load generator.

    Closed-loop load: `duration` runs from `t`. Open-loop load (arrivals at a fixed
    rate) also sets `intended`, when the request was due: `t` is when it really
    started (`intended <= t`) and `duration` runs from `intended`, so a delay in
    sending counts as latency instead of vanishing (coordinated omission).
    """

    t: float  # start time
    duration: float  # seconds
    ok: bool
    # HTTP status, 0 when no response arrived; a gRPC call's status code; a stream's
    # close code
    status: int
    error: str | None = None  # one of ERROR_KINDS (or its traffic kind's) when not ok
    pod: str | None = None  # the pod that answered (X-Pod-Name header), when known
    intended: float | None = None  # open-loop load: the time the request was due
    # What its traffic kind says beyond these (a gRPC code's name, a stream's messages
    # and reconnection time): see graceproof.traffic.
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def late(self) -> bool:
        """An open-loop arrival the generator could not send on time: never sent."""
        return self.error == "late"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.intended is None:
            del d["intended"]  # closed-loop records keep their old form
        if not self.detail:
            del d["detail"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestRecord:
        return cls(
            t=float(d["t"]),
            duration=float(d["duration"]),
            ok=bool(d["ok"]),
            status=int(d.get("status", 0)),
            error=d.get("error"),
            pod=d.get("pod"),
            intended=None if d.get("intended") is None else float(d["intended"]),
            detail=dict(d.get("detail") or {}),
        )


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened to a pod, an endpoint or the app, at time t."""

    t: float
    kind: str  # one of EVENT_KINDS
    pod: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "pod": self.pod, "detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimelineEvent:
        return cls(
            t=float(d["t"]), kind=str(d["kind"]), pod=d.get("pod"), detail=d.get("detail") or {}
        )


@dataclass(frozen=True)
class TerminationWindow:
    """From a pod's deletion to the moment its container exited (or it vanished)."""

    pod: str
    start: float
    end: float
