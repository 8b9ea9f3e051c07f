"""One proof, end to end: deploy a workload, load it, disrupt it, judge it.

    workload.deploy -> wait until the load can reach it (the placement's check)
    -> start the timeline (watches) and the load (Locust on this host or in the cluster)
    -> warm up -> disruption.run -> wait until every terminating pod is gone
    -> settle -> stop the load: a Measurement (what the run recorded)
    -> ScenarioResult.build: Analysis (windows, counts, bounds, measures) -> Verdict.

A `Scenario` groups what it is made of: the workload, the disruption, the load
settings and the expectation; each part is an object of its own seam.

The load is stopped by SIGTERM once the disruption is over (Locust shuts down
gracefully on it); its --run-time stays as an upper bound so it always ends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from graceproof.action_log import DisruptionRecord
from graceproof.budget import Budget
from graceproof.disruptions import DeleteOneByOne, Disruption, DisruptionContext, wait_all_gone
from graceproof.errors import LoadError, TimelineError
from graceproof.kube import Kube
from graceproof.load import NOT_LOAD_PODS, LoadContext, LoadSettings, OnHost, Placement
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import Expected
from graceproof.result import ScenarioResult
from graceproof.result_files import RESERVED_SUFFIX, reserve_name
from graceproof.subject import Subject
from graceproof.timeline import TimelineRecorder
from graceproof.workloads.base import (
    NOT_IN_ID,
    DeployContext,
    Target,
    Workload,
    changed_parameters,
    parameters_of,
)

__all__ = ["Scenario", "deploy", "run_scenario"]

log = logging.getLogger(__name__)

# A replacement pod Ready, generously: bounds the load's run time per replica.
_PER_POD_S = 30.0


@dataclass(frozen=True)
class Scenario:
    """What to prove. `expected` defaults to what the workload expects (errors for a
    negative control, none otherwise)."""

    workload: Workload = field(metadata=NOT_IN_ID)
    disruption: Disruption = field(default_factory=DeleteOneByOne, metadata=NOT_IN_ID)
    load: LoadSettings = field(default_factory=LoadSettings, metadata=NOT_IN_ID)
    expected: Expected | None = field(default=None, metadata=NOT_IN_ID)
    # What a hooked run may lose and still pass (None: the strict zero rule). A
    # judgement of the measurement, not part of it: not in the id.
    budget: Budget | None = field(default=None, metadata=NOT_IN_ID)
    # Whether retryable failures (graceproof.failures: closed before any byte of the
    # answer on a reused connection, an idempotent method) count against the verdict.
    # A judgement too: not in the id.
    count_retryable: bool = field(default=True, metadata=NOT_IN_ID)
    # Where the load runs: on this host (NodePorts on 127.0.0.1) or in the cluster.
    placement: Placement = field(default_factory=OnHost, metadata=NOT_IN_ID)
    warmup_s: float = 3.0  # steady load before the first termination
    settle_s: float = 2.0  # load after the last exit, so the window's tail is covered

    @property
    def want(self) -> Expected:
        return self.expected if self.expected is not None else self.workload.expected

    def changed(self) -> dict[str, Any]:
        """Every parameter not at its default, that the readable id does not name."""
        parts = {
            "workload": self.workload.changed(),
            "disruption": self.disruption.changed(),
            "load": {k: v for k, v in changed_parameters(self.load).items() if k != "connection"},
            "scenario": changed_parameters(self),
            "placement": self.placement.changed(),
        }
        if self.want != self.workload.expected:
            parts["scenario"]["expected"] = self.want
        return {k: v for k, v in parts.items() if v}

    @property
    def scenario_id(self) -> str:
        """Readable and stable: workload, disruption and connection policy, and a digest
        of every other parameter that differs from its default (none by default)."""
        base = f"{self.workload.label}--{self.disruption.kind}--{self.load.connection}"
        changed = self.changed()
        if not changed:
            return base
        canonical = json.dumps(changed, sort_keys=True, default=str)
        return f"{base}--{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"

    def parameters(self) -> dict[str, Any]:
        """Everything, for the result."""
        return {
            "workload": {"type": type(self.workload).__name__, **self.workload.parameters()},
            "disruption": {"kind": self.disruption.kind, **self.disruption.parameters()},
            "load": parameters_of(self.load),
            "expected": self.want,
            "count_retryable": self.count_retryable,
            "warmup_s": self.warmup_s,
            "settle_s": self.settle_s,
            "placement": self.placement.parameters(),
        }

    def subject(self, target: Target) -> Subject:
        """What its result is of and claims, as plain values; `target` as deployed."""
        # The live shape beside the declared one: an HPA may have scaled the workload.
        live = {
            "ref": target.ref,
            "replicas": target.replicas,
            "grace_seconds": target.grace_seconds,
            "node_port": target.node_port,  # the one taken, when a free one was chosen
        }
        return Subject(
            scenario_id=self.scenario_id,
            variant=self.workload.label,
            connection=self.load.connection,
            expected=self.want,
            parameters={**self.parameters(), "target": live},
            budget=self.budget,
            count_retryable=self.count_retryable,
        )

    def load_bound_s(self, target: Target) -> float:
        """An upper bound for the whole load: Locust stops by itself after it."""
        # A hook overrunning the grace period gets 2 s more; twice the grace is ample.
        termination = 2 * target.grace_seconds + 2
        return self.warmup_s + target.replicas * _PER_POD_S + termination + self.settle_s + 30


def deploy(
    ctx: DeployContext, workload: Workload, load: LoadSettings, placement: Placement | None = None
) -> Target:
    """Deploy `workload` and wait until the load can reach it from where it runs (the
    placement's check: the NodePort on 127.0.0.1 for a load from this host)."""
    target = workload.deploy(ctx)
    (placement or OnHost()).check_reachable(ctx.kube, ctx.namespace, target, load)
    return target


class Phases:
    """The phases of one proof: each says when it starts (the progress lines of
    `make e2e` and the CLI) and how long it took (the result's `phases`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, phase: str, message: str) -> Iterator[None]:
        log.info("[%s] %s", self.name, message)
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.monotonic() - t0


def _disrupt(
    ctx: DisruptionContext, sc: Scenario, timeline: TimelineRecorder, phases: Phases
) -> None:
    before = {p.metadata.name for p in ctx.serving()}
    with phases.phase("disruption", f"disruption {sc.disruption.kind} under load"):
        sc.disruption.run(ctx)
    ctx.record.finished = time.time()
    for a in ctx.record.actions:
        timeline.add(
            "disruption",
            a.get("pod"),
            a["t"],
            **{k: v for k, v in a.items() if k not in ("t", "pod")},
        )
    gone = before - {p.metadata.name for p in ctx.serving()}
    with phases.phase("terminations", f"waiting for {len(gone)} terminating pod(s) to finish"):
        wait_all_gone(ctx.kube, ctx.namespace, gone, timeout=ctx.target.grace_seconds + 60)


def _measure(
    kube: Kube,
    namespace: str,
    sc: Scenario,
    target: Target,
    cluster: ClusterInfo,
    records_path: Path,
    phases: Phases,
) -> Measurement:
    started = time.time()
    record = DisruptionRecord(kind=sc.disruption.kind, started=started)
    ctx = DisruptionContext(kube, namespace, target, record)
    load_ctx = LoadContext(
        kube,
        namespace,
        target,
        sc.load,
        duration_s=sc.load_bound_s(target),
        records_path=records_path,
        avoid_nodes=sc.disruption.nodes_emptied(ctx),
    )
    with (
        TimelineRecorder(
            kube, namespace, service=target.service, pod_selector=NOT_LOAD_PODS
        ) as timeline,
        ExitStack() as running,
    ):
        # Starting Locust (a process on the host, or the in-cluster pods with their
        # clock readings) is the load's start, and tearing it down (the pods deleted)
        # is its stop: both are counted in those phases, so that a proof's wall time
        # outside its phases is the harness's own (it was 5 s per in-cluster proof).
        with phases.phase("load_start", f"load starting: {sc.load.describe()}"):
            load = running.enter_context(sc.placement.runner(load_ctx))
            load.wait_for_records(sc.load.users)
        with phases.phase("warmup", f"steady load for {sc.warmup_s:g} s"):
            time.sleep(sc.warmup_s)  # a measurement, not a wait: steady load first
        record.started = time.time()
        _disrupt(ctx, sc, timeline, phases)
        with phases.phase("settle", f"load for {sc.settle_s:g} s after the last exit"):
            time.sleep(sc.settle_s)  # a measurement too: the last window's tail
        if not load.running:
            # Locust's --run-time ran out during the disruption: terminations after it
            # had no load, and a pass would claim what was not measured.
            raise LoadError(
                f"the load ended (its bound, {load.duration_s:.0f} s) before the disruption "
                f"and the terminations it caused were over; slow replacements of "
                f"{target.ref}? Make its pods ready faster or rerun"
            )
        with phases.phase("load_stop", "stopping the load"):
            load.stop()
            result = load.wait(check=True)
            running.close()
    if timeline.errors:
        raise TimelineError(timeline.errors)
    return Measurement(
        cluster=cluster,
        disruption=record,
        load=result.parameters(),
        records=result.records,
        timeline=timeline.events(),
        started=started,
        finished=time.time(),
    )


def run_scenario(
    kube: Kube,
    namespace: str,
    sc: Scenario,
    *,
    image: str,
    cluster: ClusterInfo,
    out_dir: Path,
    namespace_s: float | None = None,
) -> ScenarioResult:
    """Run `sc` in `namespace`; its request log goes to `out_dir` under a name no other
    result there has. The caller writes the returned result (`write_json(out_dir)`).

    `namespace_s`: the seconds the caller took to create `namespace` for it, counted in
    the result's `wall_s` (the proof's wall time: that, and this call up to the result)."""
    t0 = time.monotonic()
    name = reserve_name(out_dir, sc.scenario_id)
    records_path = out_dir / f"{name}{RESERVED_SUFFIX}"
    phases = Phases(name)
    try:
        with phases.phase("deploy", f"deploying {sc.workload.label} in {namespace}"):
            target = deploy(
                DeployContext(kube, namespace, image), sc.workload, sc.load, sc.placement
            )
        measurement = _measure(kube, namespace, sc, target, cluster, records_path, phases)
    except BaseException:
        # A run that recorded no request leaves no empty file behind; one that did
        # keeps its records for the diagnosis.
        if records_path.exists() and records_path.stat().st_size == 0:
            records_path.unlink()
        raise
    with phases.phase("verdict", "judging the records"):
        res = ScenarioResult.build(
            sc.subject(target), measurement, name=name, artifacts={"requests": records_path.name}
        )
    wall_s = (namespace_s or 0.0) + time.monotonic() - t0
    res = replace(res, phases=phases.seconds, wall_s=wall_s, namespace_s=namespace_s)
    log.info("%s", res.headline())
    log.info("[%s] %s", name, res.verdict.message)
    return res
