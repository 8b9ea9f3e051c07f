"""The seams, proven on the cluster: a workload and a disruption defined here, not in
graceproof, run through the normal `prove` path; and two proofs that differ in one
parameter keep both of their results."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from graceproof.disruptions import Disruption, DisruptionContext
from graceproof.fixtures.proofs import ProofReport
from graceproof.hooks import SleepHook
from graceproof.load import LoadSettings
from graceproof.result import ScenarioResult, load_results
from graceproof.scenario import Scenario
from graceproof.waiting import deployment_available
from graceproof.workloads import NOT_IN_ID, DeployContext, SampleApp, Target, Workload

Prove = Callable[[Scenario], ScenarioResult]
POD_NAME = "metadata.name"

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class TeamService(Workload):
    """A team's own manifests, as a user would write them: plain dicts, their own
    labels and Service; the sample image only because no registry is reachable."""

    prestop_sleep_s: int | None
    node_port: int = field(metadata=NOT_IN_ID)
    replicas: int = 3

    uses_session_image: ClassVar[bool] = True

    @property
    def label(self) -> str:
        return "team-service" if self.prestop_sleep_s is None else "team-service-hooked"

    @property
    def expected(self) -> Any:
        return "errors" if self.prestop_sleep_s is None else "no-errors"

    def manifests(self, image: str) -> list[dict[str, Any]]:
        container: dict[str, Any] = {
            "name": "server",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 8080, "name": "web"}],
            "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
            ],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "web"}, "periodSeconds": 1},
        }
        if self.prestop_sleep_s is not None:
            container["lifecycle"] = {"preStop": {"sleep": {"seconds": self.prestop_sleep_s}}}
        labels = {"team.example/app": "orders"}
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "orders"},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": labels},
                "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "orders-public"},
            "spec": {
                "type": "NodePort",
                "selector": labels,
                "ports": [{"port": 80, "targetPort": "web", "nodePort": self.node_port}],
            },
        }
        return [deployment, service]

    def deploy(self, ctx: DeployContext) -> Target:
        ctx.kube.apply(self.manifests(ctx.image), ctx.namespace)
        deployment_available(ctx.kube.apps, ctx.namespace, "orders").wait(180)
        return Target(
            kind="Deployment",
            name="orders",
            selector="team.example/app=orders",
            service="orders-public",
            node_port=self.node_port,
            replicas=self.replicas,
            grace_seconds=30,
        )


@dataclass(frozen=True)
class DeleteOldest(Disruption):
    """Delete the `count` oldest pods, one at a time, each after the last replacement
    serves."""

    kind: ClassVar[str] = "delete-oldest"
    count: int = 2

    def run(self, ctx: DisruptionContext) -> None:
        pods = sorted(ctx.serving(), key=lambda p: p.metadata.creation_timestamp)
        deleted: set[str] = set()
        for pod in pods[: self.count]:
            ctx.delete_pod(pod.metadata.name)
            deleted.add(pod.metadata.uid)
            ctx.wait_serving(ctx.target.replicas, exclude=deleted)


@pytest.mark.parametrize(("sleep_s", "node_port"), [(None, 30086), (5, 30087)])
def test_a_workload_and_a_disruption_defined_outside_graceproof_are_proven(
    prove: Prove, sleep_s: int | None, node_port: int
) -> None:
    result = prove(Scenario(TeamService(sleep_s, node_port), disruption=DeleteOldest()))
    c = result.counts
    assert result.disruption.kind == "delete-oldest"
    assert [a["action"] for a in result.disruption.actions] == ["delete", "delete"]
    deleted = {a["pod"] for a in result.disruption.actions}
    assert {w.pod for w in result.windows} == deleted
    assert c.in_windows > 0, "no request fell inside a termination window"
    assert result.parameters["workload"]["type"] == "TeamService"
    assert result.verdict.passed, result.verdict.message
    if sleep_s is None:
        assert c.failed_in_windows > 0
    else:
        assert c.failed == 0


def test_two_proofs_differing_only_in_shutdown_mode_keep_both_results(
    prove: Prove, proof_report: ProofReport
) -> None:
    # Both were named prestop-sleep--delete-one-by-one--keepalive before: the second
    # result replaced the first's JSON, picture and request log.
    # Each result is held to what it shows: an app that exits at once cuts the
    # keep-alive connections pinned to it (errors, asserted below); the draining one is
    # here only for its name (its proof is test_keepalive.py's), so it is informative.
    # Requests of 0.2 s, as in test_keepalive.py, keep one in flight on most connections
    # at the moment the immediate app exits. With `/` (a few ms each) most connections
    # sat idle at that moment and were reopened without an error: 4 to 8 failures in
    # windows over four CI runs, and 0 of 8,137 in a fifth, which failed CI.
    load = LoadSettings(connection="keepalive", path="/slow?seconds=0.2", timeout_s=3.0)
    results = [
        prove(
            Scenario(
                SampleApp(
                    SleepHook(5), shutdown_mode=mode, replicas=2, name=f"web-{mode}", node_port=port
                ),
                load=load,
                expected=expected,
            )
        )
        for mode, port, expected in (
            ("immediate", 30088, "errors"),
            ("drain", 30089, "informative"),
        )
    ]
    immediate, drain = results
    assert immediate.verdict.passed, immediate.verdict.message
    assert immediate.counts.failed_in_windows > 0
    assert drain.verdict.expected == "informative" and drain.verdict.passed
    assert drain.verdict.message.startswith("informative, not judged")
    assert immediate.scenario_id != drain.scenario_id
    assert immediate.file_stem != drain.file_stem
    directory = proof_report.directory
    on_disk = {r.file_stem: r for r in load_results(directory)}
    for r in results:
        kept = on_disk[r.file_stem]
        assert kept.scenario_id == r.scenario_id
        assert (
            kept.parameters["workload"]["shutdown_mode"]
            == r.parameters["workload"]["shutdown_mode"]
        )
        requests = directory / r.artifacts["requests"]
        lines = requests.read_text().splitlines()
        assert len(lines) == r.counts.total > 0
        assert json.loads(lines[0])["t"] >= r.started
