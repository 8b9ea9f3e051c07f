"""One proof, end to end: deploy a variant, load it, disrupt it, judge it.

    deploy (Deployment + NodePort Service) -> wait until every replica serves
    -> start the timeline (watches) and the load (Locust subprocess, 127.0.0.1)
    -> warm up -> disrupt (delete one by one, rollout restart, scale down)
    -> wait until every terminating pod is gone, settle -> stop the load
    -> ScenarioResult (counts, windows, bounds, verdict) written as JSON.

The load is stopped by SIGTERM once the disruption is over (Locust shuts down
gracefully on it); its --run-time stays as an upper bound so it always ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from graceproof.disruptions import (
    DisruptionKind,
    DisruptionRecord,
    delete_pods_one_by_one,
    rollout_restart,
    scale_down,
    serving_pods,
    wait_all_gone,
)
from graceproof.kube import Kube
from graceproof.load import LoadRun
from graceproof.model import ConnectionPolicy
from graceproof.probe import answers
from graceproof.result import ClusterInfo, Disruption, Expected, ScenarioResult
from graceproof.timeline import TimelineRecorder
from graceproof.waiting import deployment_available, wait_for
from graceproof.workloads import ShutdownMode, Variant, render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scenario:
    """What to prove. `expected` defaults to errors for no-hook, none otherwise."""

    variant: Variant
    disruption: DisruptionKind = "delete-one-by-one"
    expected: Expected | None = None
    replicas: int = 3
    grace_seconds: int = 30
    sleep_seconds: int = 5
    shutdown_mode: ShutdownMode = "immediate"
    connection: ConnectionPolicy = "new"
    users: int = 10
    wait_s: float = 0.01
    timeout_s: float = 2.0
    warmup_s: float = 3.0
    settle_s: float = 2.0
    scale_to: int = 1
    node_port: int = 30085
    name: str = "web"
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def want(self) -> Expected:
        if self.expected is not None:
            return self.expected
        return "errors" if self.variant == "no-hook" else "no-errors"

    @property
    def scenario_id(self) -> str:
        return f"{self.variant}--{self.disruption}--{self.connection}"

    def load_bound_s(self) -> float:
        """An upper bound for the whole load: Locust stops by itself after it."""
        per_pod = 30.0  # a replacement pod Ready, generously
        termination = self.sleep_seconds + self.grace_seconds
        return self.warmup_s + self.replicas * per_pod + termination + self.settle_s + 30


def deploy(kube: Kube, namespace: str, sc: Scenario, image: str, timeout: float = 180) -> None:
    kube.apply(
        render(
            sc.variant,
            name=sc.name,
            image=image,
            replicas=sc.replicas,
            grace_seconds=sc.grace_seconds,
            sleep_seconds=sc.sleep_seconds,
            shutdown_mode=sc.shutdown_mode,
            node_port=sc.node_port,
            labels=sc.labels,
        ),
        namespace,
    )
    deployment_available(kube.apps, namespace, sc.name).wait(timeout=timeout)
    # Ready pods are not yet a served NodePort: kube-proxy syncs a moment later.
    wait_for(
        lambda: answers(sc.node_port),
        what=f"NodePort {sc.node_port} on 127.0.0.1 to answer",
        timeout=60,
        interval=0.25,
    )


def disrupt(
    kube: Kube, namespace: str, sc: Scenario, progress: Callable[[str], None] | None = None
) -> DisruptionRecord:
    if sc.disruption == "delete-one-by-one":
        return delete_pods_one_by_one(kube, namespace, sc.name, progress=progress)
    if sc.disruption == "rollout-restart":
        return rollout_restart(kube, namespace, sc.name, progress=progress)
    if sc.disruption == "scale-down":
        return scale_down(kube, namespace, sc.name, sc.scale_to, progress=progress)
    raise ValueError(f"unknown disruption {sc.disruption!r}")


def run_scenario(
    kube: Kube,
    namespace: str,
    sc: Scenario,
    *,
    image: str,
    cluster: ClusterInfo,
    out_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    say = progress or log.info
    out_dir.mkdir(parents=True, exist_ok=True)
    say(f"[{sc.scenario_id}] deploying {sc.replicas} replicas in {namespace}")
    deploy(kube, namespace, sc, image)
    selector = f"app.kubernetes.io/name={sc.name}"
    before = {p.metadata.name for p in serving_pods(kube, namespace, selector)}
    records_path = out_dir / f"{sc.scenario_id}.requests.jsonl"
    started = time.time()
    with (
        TimelineRecorder(kube, namespace, service=sc.name) as timeline,
        LoadRun(
            sc.node_port,
            duration_s=sc.load_bound_s(),
            users=sc.users,
            connection=sc.connection,
            records_path=records_path,
            timeout_s=sc.timeout_s,
            wait_s=sc.wait_s,
        ) as load,
    ):
        load.wait_for_records(sc.users)
        time.sleep(
            sc.warmup_s
        )  # steady load before the first termination (a measurement, not a wait)
        say(f"[{sc.scenario_id}] disruption {sc.disruption} under load")
        rec = disrupt(kube, namespace, sc, progress=say)
        for a in rec.actions:
            timeline.add("disruption", a.get("pod"), a["t"], action=a["action"])
        gone = before - {p.metadata.name for p in serving_pods(kube, namespace, selector)}
        wait_all_gone(kube, namespace, gone, timeout=sc.grace_seconds + 60, progress=say)
        time.sleep(sc.settle_s)  # load after the last exit, so the window's tail is covered
        load.stop()
        result = load.wait(check=True)
    finished = time.time()
    if timeline.errors:
        raise RuntimeError(f"the timeline lost a watch: {timeline.errors}")
    res = ScenarioResult.build(
        scenario_id=sc.scenario_id,
        variant=sc.variant,
        connection=sc.connection,
        disruption=Disruption(
            kind=sc.disruption,
            started=rec.started,
            finished=rec.finished,
            detail={"actions": rec.actions},
        ),
        cluster=cluster,
        load={**result.parameters(), "returncode": result.returncode},
        records=result.records,
        timeline=timeline.events(),
        expected=sc.want,
        started=started,
        finished=finished,
        artifacts={"requests": records_path.name},
    )
    say(f"[{sc.scenario_id}] {res.verdict.message}")
    return res


def scenario_parameters(sc: Scenario) -> dict[str, Any]:
    return asdict(sc)
