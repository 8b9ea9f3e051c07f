"""One in-cluster Locust run (`ClusterLoadRun`): a master and workers as pods of the
test namespace (the placement: graceproof.load.cluster.InCluster).

Locust's own distributed mode, no fan-out of graceproof's: the master pod runs `locust
--master`, each worker pod `locust --worker` against the master's pod IP (no cluster
DNS needed), all with graceproof's locustfiles from a ConfigMap. The users load the
target Service's ClusterIP, so kube-proxy (or the ingress) is still the path under test.

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

What every runner does alike (the waits, the command line, the result) is
graceproof.load.runner's; this file holds what differs in the cluster.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import time
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

from graceproof.errors import ExecError
from graceproof.load.cluster_clock import ClockReading, PodClocks, applied, cpu_seconds, read_clock
from graceproof.load.cluster_pods import (
    CONFIGMAP,
    CONTAINER,
    MASTER,
    MASTER_PORT,
    WORK,
    LoadPods,
)
from graceproof.load.locustfiles import default_locustfile
from graceproof.load.placement import LoadContext
from graceproof.load.runner import Collected, LoadRunner, LoadStatus
from graceproof.model import RequestRecord
from graceproof.traffic import traffic
from graceproof.waiting import REQUEST_TIMEOUT

if TYPE_CHECKING:
    from graceproof.load.cluster import InCluster

__all__ = ["ClusterLoadRun"]


class ClusterLoadRun(LoadRunner, LoadPods, PodClocks):
    """One in-cluster Locust run (a context manager, as graceproof.load.LoadRun)."""

    name = "the in-cluster Locust"
    log_label = "the master's log"
    poll_s = 0.5  # each look is an exec in the master pod

    def __init__(self, placement: InCluster, ctx: LoadContext) -> None:
        self.kind = traffic(ctx.settings.connection)
        placement.check_image(self.kind)
        # Each pod's clock is read (a few exec round trips) after the master started.
        duration_s = float(math.ceil(ctx.duration_s) + 2 * (placement.workers + 1))
        super().__init__(ctx.settings, duration_s, ctx.records_path)
        self.placement = placement
        self.ctx = ctx
        self.python = "python3"  # the image's
        self.locustfile = default_locustfile(self.settings.connection)
        self.workers = [f"gp-load-worker-{i}" for i in range(placement.workers)]
        self.address = ""
        self.port = 0
        self.clocks: dict[str, list[ClockReading]] = {}
        self.cpu: dict[str, list[float | None]] = {}  # CPU seconds at the start and the end

    # --- start ---
    def start(self) -> None:
        self.records_path.parent.mkdir(parents=True, exist_ok=True)
        self._check_path()
        self._check_labels()
        kube, ns, target = self.ctx.kube, self.ctx.namespace, self.ctx.target
        self.address, self.port = self.placement.service_address(kube, ns, target, self.kind)
        # Checked again here, at no cost when ready: a run may go without a scenario,
        # right after its workload's pods turned Ready, before the EndpointSlice says so
        # (one look failed that way in a CI-like run): the same moment's grace as deploy.
        self.placement.check_endpoints(kube, ns, target)
        kube.apply([self._configmap()], ns)
        self._create(self._pod(MASTER, "master", self.command()))
        master_ip = self._wait_running([MASTER])[MASTER]
        for name in self.workers:
            self._create(self._pod(name, "worker", self._worker_command(master_ip)))
        self._wait_running(self.workers)
        for pod in (MASTER, *self.workers):
            self.clocks[pod] = [read_clock(self.ctx, pod)]
            self.cpu[pod] = [cpu_seconds(self.ctx, pod)]
        self._started = time.time()

    def locust(self) -> list[str]:
        return [self.python, "-m", "locust", "-f", f"/locust/{self.locustfile.name}"]

    def command(self) -> list[str]:
        """The master pod's: Locust's master in the background, its pid and then its
        exit status written where graceproof reads (the container outlives Locust, so
        its files can be copied)."""
        locust = self.locust_command(
            "master",
            master_port=MASTER_PORT,
            workers=len(self.workers),
            # The workers are created once the master runs, and may take as long.
            workers_wait_s=2 * self.placement.start_timeout_s + 30,
        )
        script = (
            f"mkdir -p {WORK} && cd {WORK} && "
            f"{shlex.join(locust)} >{WORK}/stdout.txt 2>{WORK}/stderr.txt & "
            f"echo $! >{WORK}/pid; wait $!; echo $? >{WORK}/rc.tmp; mv {WORK}/rc.tmp {WORK}/rc; "
            "exec sleep 86400"
        )
        return ["sh", "-c", script]

    def _worker_command(self, master_ip: str) -> list[str]:
        return self.locust_command("worker", master_host=master_ip, master_port=MASTER_PORT)

    # --- while it runs ---
    def _sh(self, script: str, timeout: float = 30.0) -> str:
        return self.ctx.kube.exec(
            self.ctx.namespace, MASTER, CONTAINER, ["sh", "-c", script], timeout=timeout
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return self._sh(f"tail -n {lines} {WORK}/stderr.txt 2>/dev/null || true")
        except (ExecError, ApiException) as exc:
            return f"(unreadable: {exc})"

    def status(self) -> LoadStatus:
        """Locust's exit status (once it ended), the records and the streams opened."""
        out = self._sh(
            f"cat {WORK}/rc 2>/dev/null || echo -; "
            f"cat {WORK}/requests.jsonl 2>/dev/null | wc -l; "
            f"cat {WORK}/progress 2>/dev/null | wc -l"
        ).split()
        rc = None if out[0] == "-" else int(out[0])
        exited = None if rc is None else f"the in-cluster Locust master exited with {rc}"
        return LoadStatus(max(int(out[1]), int(out[2])), exited, rc is not None)

    def _no_records_hint(self) -> str:
        return f"by the in-cluster load ({len(self.workers)} workers)"

    def stop(self) -> None:
        """Locust's own stop: SIGTERM to the master, which stops its workers first (their
        last records come with them)."""
        self._read_clocks_again()  # while the workers still run: they exit with Locust
        with contextlib.suppress(ExecError):  # it ended meanwhile
            self._sh(f"[ -f {WORK}/rc ] || kill -TERM $(cat {WORK}/pid)")

    # --- the end ---
    def collect(self) -> Collected:
        rc = int(self._sh(f"cat {WORK}/rc").split()[0])
        self._read_clocks_again()
        records, completeness = self._collect()
        lost = completeness["lost"]
        problem = None
        if lost or completeness["not_done"]:
            problem = (
                f"the in-cluster load lost {lost} record(s); workers that never said "
                f"they were done: {completeness['not_done'] or 'none'} (a worker pod "
                f"that died keeps its last records); see {self.records_path.name}"
            )
        placement = self._describe(records, completeness)
        return Collected(rc, records, placement=placement, problem=problem)

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

    # --- teardown ---
    def teardown(self, failed: bool) -> None:
        if failed and self._started:
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
