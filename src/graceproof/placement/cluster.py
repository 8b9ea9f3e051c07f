"""The load in the cluster: a Locust master and workers as pods of the test namespace.

For clusters whose NodePorts are not on 127.0.0.1 (EKS, GKE, AKS, a shared staging
cluster behind a kubeconfig), and for rates one machine cannot drive. Locust's own
distributed mode, no fan-out of graceproof's: the master pod runs `locust --master`,
each worker pod `locust --worker` against the master's pod IP (no cluster DNS needed),
all with graceproof's locustfiles from a ConfigMap. The users load the target Service's
ClusterIP, so kube-proxy (or the ingress) is still the path under test.

- Records: every worker sends its records to the master in Locust's own messages
  (the locustfile's Relay); the master writes them and, per worker, how many it made
  and how many arrived. graceproof copies them from the master pod when the run ends;
  a record lost (a worker pod that died) is reported, and fails the load.
- One clock: each pod's clock is read through the API server (`date` in the pod,
  bracketed by the host's clock; the sample with the shortest round trip), before the
  load and after it. Record times are moved onto the host's clock (the timeline's);
  the residual uncertainty (half the round trip, plus any drift between the two
  readings) is in the result.
- Placement: the load pods carry labels no target selector may match, stay off the
  nodes the disruption will empty (a drain's node), and have requests and limits.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from kubernetes.client.exceptions import ApiException

from graceproof.errors import ExecError, LoadError, WorkloadSpecError
from graceproof.load import (
    STARTUP_ALLOWANCE_S,
    LoadResult,
    LoadTimeout,
    LocustCrashed,
    crash_reason,
    default_locustfile,
)
from graceproof.model import RequestRecord
from graceproof.placement.base import LoadContext, Placement
from graceproof.placement.cluster_clock import (
    ClockReading,
    PodClocks,
    applied,
    cpu_seconds,
    read_clock,
)
from graceproof.placement.cluster_pods import (
    CONFIGMAP,
    CONTAINER,
    LOAD_LABELS,
    MASTER,
    NOT_LOAD_PODS,
    WORK,
    LoadPods,
    selector_pairs,
)
from graceproof.traffic import traffic
from graceproof.waiting import REQUEST_TIMEOUT
from graceproof.workloads.base import NOT_IN_ID

__all__ = [
    "LOAD_LABELS",
    "NOT_LOAD_PODS",
    "OFFICIAL_LOCUST_IMAGE",
    "ClockReading",
    "ClusterLoadRun",
    "InCluster",
    "Resources",
    "selector_pairs",
]

# The official Locust image, pinned by digest (hack/versions.env LOCUST_OFFICIAL_IMAGE,
# where it says where the digest was seen): 2.46.6, the newest release seen pinned in
# public repositories; graceproof runs 2.47.0 itself. HTTP kinds only.
OFFICIAL_LOCUST_IMAGE = (
    "docker.io/locustio/locust:2.46.6"
    "@sha256:d43616228012a7d79b883e2ecd42f87640469377f2b666c4ab27e5248dfdf35f"
)


@dataclass(frozen=True)
class Resources:
    """Requests and limits of each load pod."""

    cpu_request: str = "100m"
    cpu_limit: str = "1"
    memory_request: str = "128Mi"
    memory_limit: str = "512Mi"

    def render(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class InCluster(Placement):
    """A Locust master and `workers` workers as pods, loading the Service's ClusterIP.

    InCluster(workers=2)                              # the official Locust image
    InCluster(workers=4, image="graceproof/load:0.1.0")  # graceproof's, loaded locally

    The official image carries Locust only: the HTTP traffic kinds. gRPC and WebSocket
    need graceproof's load image (workloads/load/Dockerfile, hack/images.sh).
    """

    kind = "cluster"
    probes_host = False
    workers: int = 2
    image: str = field(default=OFFICIAL_LOCUST_IMAGE, metadata=NOT_IN_ID)
    resources: Resources = field(default_factory=Resources)
    node_selector: Mapping[str, str] | None = field(default=None, metadata=NOT_IN_ID)
    # How long the pods may take to run (image pull, scheduling).
    start_timeout_s: float = field(default=120.0, metadata=NOT_IN_ID)

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 64:
            raise WorkloadSpecError(
                f"InCluster.workers must be 1-64 (each a Locust worker pod), not {self.workers}"
            )
        if not self.image.strip():
            raise WorkloadSpecError("InCluster.image must name an image with Locust")

    def runner(self, ctx: LoadContext) -> ClusterLoadRun:
        return ClusterLoadRun(self, ctx)


class ClusterLoadRun(LoadPods, PodClocks):
    """One in-cluster Locust run (a context manager, as graceproof.load.LoadRun)."""

    def __init__(self, placement: InCluster, ctx: LoadContext) -> None:
        self.placement = placement
        self.ctx = ctx
        self.settings = ctx.settings
        self.kind = traffic(ctx.settings.connection)
        if self.kind.name not in ("new", "keepalive") and placement.image == OFFICIAL_LOCUST_IMAGE:
            raise WorkloadSpecError(
                f"InCluster: the official Locust image has no client for {self.kind.name!r} "
                "(grpcio, websocket-client); give InCluster(image=...) graceproof's load image "
                "(workloads/load/Dockerfile)"
            )
        # Each pod's clock is read (a few exec round trips) after the master started.
        self.duration_s = float(math.ceil(ctx.duration_s) + 2 * (placement.workers + 1))
        self.stop_timeout_s = self.settings.stop_timeout_s
        self.locustfile = default_locustfile(self.settings.connection)
        self.records_path = ctx.records_path
        self.workers = [f"gp-load-worker-{i}" for i in range(placement.workers)]
        self.address = ""
        self.port = 0
        self.clocks: dict[str, list[ClockReading]] = {}
        self.cpu: dict[str, list[float | None]] = {}  # CPU seconds at the start and the end
        self._started = 0.0
        self._result: LoadResult | None = None

    # --- start ---
    def __enter__(self) -> ClusterLoadRun:
        try:
            self.start()
        except BaseException:
            self._delete()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._started:
            self._keep_logs()  # the diagnosis of a failed run, before the pods go
        self._delete()

    def _keep_logs(self) -> None:
        """Best effort: the master's log and each worker's, next to the records."""
        base = self.records_path.name
        with contextlib.suppress(ExecError, ApiException, OSError):
            log = self._copy("stderr.txt")
            self.records_path.with_name(f"{base}.stderr.txt").write_text(log)
        for i, pod in enumerate(self.workers):
            with contextlib.suppress(ApiException, OSError):
                text = self.ctx.kube.core.read_namespaced_pod_log(
                    pod, self.ctx.namespace, _request_timeout=REQUEST_TIMEOUT
                )
                self.records_path.with_name(f"{base}.w{i}.log.txt").write_text(str(text))

    def start(self) -> None:
        self.records_path.parent.mkdir(parents=True, exist_ok=True)
        self._check_path()
        self._check_labels()
        self.address, self.port = self._service_address()
        self._check_endpoints()
        kube, ns = self.ctx.kube, self.ctx.namespace
        kube.apply([self._configmap()], ns)
        self._create(self._pod(MASTER, "master", self._master_command()))
        master_ip = self._wait_running([MASTER])[MASTER]
        for name in self.workers:
            self._create(self._pod(name, "worker", self._worker_command(master_ip)))
        self._wait_running(self.workers)
        for pod in (MASTER, *self.workers):
            self.clocks[pod] = [read_clock(self.ctx, pod)]
            self.cpu[pod] = [cpu_seconds(self.ctx, pod)]
        self._started = time.time()

    # --- while it runs ---
    def _sh(self, script: str, timeout: float = 30.0) -> str:
        return self.ctx.kube.exec(
            self.ctx.namespace, MASTER, CONTAINER, ["sh", "-c", script], timeout=timeout
        )

    def _master_log(self, lines: int = 40) -> str:
        try:
            return self._sh(f"tail -n {lines} {WORK}/stderr.txt 2>/dev/null || true")
        except (ExecError, ApiException) as exc:
            return f"(unreadable: {exc})"

    def _status(self) -> tuple[int | None, int, int]:
        """(Locust's exit status or None while it runs, records, streams opened)."""
        out = self._sh(
            f"cat {WORK}/rc 2>/dev/null || echo -; "
            f"cat {WORK}/requests.jsonl 2>/dev/null | wc -l; "
            f"cat {WORK}/progress 2>/dev/null | wc -l"
        ).split()
        rc = None if out[0] == "-" else int(out[0])
        return rc, int(out[1]), int(out[2])

    @property
    def running(self) -> bool:
        return self._status()[0] is None

    def wait_for_records(self, count: int = 1, timeout_s: float = STARTUP_ALLOWANCE_S) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            rc, records, opened = self._status()
            seen = max(records, opened)
            if seen >= count:
                return seen
            if rc is not None:
                raise LocustCrashed(
                    f"the in-cluster Locust master exited with {rc} after {seen} request(s); "
                    f"its log:\n{self._master_log()}"
                )
            if time.monotonic() >= deadline:
                raise LoadTimeout(
                    f"only {seen} of {count} request(s) recorded after {timeout_s:.0f} s by "
                    f"the in-cluster load ({len(self.workers)} workers); the master's log:\n"
                    f"{self._master_log()}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Locust's own stop: SIGTERM to the master, which stops its workers first (their
        last records come with them)."""
        self._read_clocks_again()  # while the workers still run: they exit with Locust
        with contextlib.suppress(ExecError):  # it ended meanwhile
            self._sh(f"[ -f {WORK}/rc ] || kill -TERM $(cat {WORK}/pid)")

    # --- the end ---
    def wait(self, timeout_s: float | None = None, *, check: bool = True) -> LoadResult:
        if self._result is not None:
            return self._result
        if timeout_s is None:
            timeout_s = self.duration_s + self.stop_timeout_s + STARTUP_ALLOWANCE_S
        deadline = time.monotonic() + timeout_s
        while (rc := self._status()[0]) is None:
            if time.monotonic() > deadline:
                raise LoadTimeout(
                    f"the in-cluster Locust did not finish within {timeout_s:.0f} s; its "
                    f"log:\n{self._master_log()}"
                )
            time.sleep(0.5)
        self._read_clocks_again()
        records, completeness = self._collect()
        result = LoadResult(
            returncode=rc,
            records=records,
            settings=self.settings,
            duration_s=self.duration_s,
            port=self.port,
            started=self._started,
            finished=time.time(),
            stderr_tail=self._master_log(),
            records_path=str(self.records_path),
            command=self._master_command(),
            placement=self._describe(records, completeness),
        )
        self._result = result
        if check:
            problem = crash_reason(result)
            if problem:
                raise LocustCrashed(f"{problem}; the master's log:\n{result.stderr_tail}")
            lost = completeness["lost"]
            if lost or completeness["not_done"]:
                raise LoadError(
                    f"the in-cluster load lost {lost} record(s); workers that never said "
                    f"they were done: {completeness['not_done'] or 'none'} (a worker pod "
                    f"that died keeps its last records); see {self.records_path.name}"
                )
        return result

    def _copy(self, name: str) -> str:
        return self._sh(f"cat {WORK}/{name} 2>/dev/null || true", timeout=120)

    def _collect(self) -> tuple[list[RequestRecord], dict[str, Any]]:
        """The master's records on the host's clock, written to records_path, and how
        complete they are."""
        offsets = {pod: applied(readings[0]) for pod, readings in self.clocks.items()}
        records: list[RequestRecord] = []
        lines: list[str] = []
        for line in self._copy("requests.jsonl").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            shift = offsets.get(str(d.get("w")), 0.0)
            d["t"] = float(d["t"]) - shift
            if d.get("intended") is not None:
                d["intended"] = float(d["intended"]) - shift
            records.append(RequestRecord.from_dict(d))
            lines.append(json.dumps(d))
        records.sort(key=lambda r: r.t)
        self.records_path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
        base = self.records_path.name
        for name in ("stdout.txt", "stderr.txt"):
            (self.records_path.with_name(f"{base}.{name}")).write_text(self._copy(name))
        counts = json.loads(self._copy("counts.json") or "{}")
        made = {str(k): int(v) for k, v in (counts.get("made") or {}).items()}
        received = {str(k): int(v) for k, v in (counts.get("received") or {}).items()}
        lost = sum(max(0, made[w] - received.get(w, 0)) for w in made)
        lost += sum((counts.get("gaps") or {}).values())
        not_done = sorted(set(self.workers) - set(made))
        return records, {
            "made": sum(made.values()),
            "received": sum(received.values()),
            "on_host": len(records),
            "lost": lost + max(0, sum(received.values()) - len(records)),
            "not_done": not_done,
        }

    def _nodes(self) -> dict[str, str | None]:
        nodes: dict[str, str | None] = {}
        for pod in (MASTER, *self.workers):
            try:
                p = self.ctx.kube.core.read_namespaced_pod(
                    pod, self.ctx.namespace, _request_timeout=REQUEST_TIMEOUT
                )
                nodes[pod] = p.spec.node_name
            except ApiException:
                nodes[pod] = None
        return nodes

    def _describe(
        self, records: list[RequestRecord], completeness: dict[str, Any]
    ) -> dict[str, Any]:
        span = (records[-1].t - records[0].t) if len(records) > 1 else 0.0
        return {
            "kind": self.placement.kind,
            "workers": len(self.workers),
            "image": self.placement.image,
            "target": f"{self.address}:{self.port}",
            "nodes": self._nodes(),
            "avoided_nodes": list(self.ctx.avoid_nodes),
            "resources": self.placement.resources.render(),
            "clock": self._clock(),
            "records": completeness,
            "cpu_s": self._cpu(),
            "rate_asked": self.settings.rate,
            "rate_reached": round(len(records) / span, 1) if span > 0 else None,
        }

    def _delete(self) -> None:
        """Every load object, each tried even when another fails (the namespace's
        deletion removes what is left); the first failure is raised at the end."""
        core, ns = self.ctx.kube.core, self.ctx.namespace
        calls: list[tuple[Any, str]] = [
            *((core.delete_namespaced_pod, name) for name in (*self.workers, MASTER)),
            (core.delete_namespaced_config_map, CONFIGMAP),
        ]
        failed: ApiException | None = None
        for delete, name in calls:
            try:
                delete(name, ns, grace_period_seconds=0, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 404 and failed is None:
                    failed = exc
        if failed is not None:
            raise failed
