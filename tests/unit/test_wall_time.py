"""Each result records the proof's wall time beside its phases (`wall_s`, with the
namespace's part `namespace_s`), so the overhead of a proof can be read from any
report; results written before it load as "not recorded"."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from graceproof import scenario as scenario_module
from graceproof.action_log import DisruptionRecord
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord
from graceproof.result import ScenarioResult, load_json
from graceproof.scenario import Phases, Scenario, run_scenario
from graceproof.subject import Subject
from graceproof.workloads import SampleApp
from graceproof.workloads.base import Target

T0 = 1_700_000_000.0
CLUSTER = ClusterInfo(provider="kind", name="graceproof", kubernetes_version="v1.34.0")
TARGET = Target(
    kind="Deployment",
    name="web",
    selector="app=web",
    service="web",
    node_port=30085,
    replicas=3,
    grace_seconds=30,
)


def _measurement() -> Measurement:
    return Measurement(
        cluster=CLUSTER,
        disruption=DisruptionRecord(kind="delete-one-by-one", started=T0 + 1, finished=T0 + 2),
        load={"users": 1},
        records=[RequestRecord(T0 + i * 0.1, 0.01, True, 200, None, "web-1") for i in range(30)],
        timeline=[],
        started=T0,
        finished=T0 + 3,
    )


@pytest.fixture
def proof(monkeypatch: pytest.MonkeyPatch) -> Any:
    """run_scenario with the cluster's parts replaced: deploy and the measurement
    each take a known time (a phase of their own)."""

    def deploy(*args: Any) -> Target:
        time.sleep(0.05)
        return TARGET

    def measure(*args: Any) -> Measurement:
        ph: Phases = args[-1]
        with ph.phase("warmup", "steady load"):
            time.sleep(0.05)
        time.sleep(0.05)  # between phases: overhead the wall time shows, the phases not
        return _measurement()

    monkeypatch.setattr(scenario_module, "deploy", deploy)
    monkeypatch.setattr(scenario_module, "_measure", measure)
    return run_scenario


def test_the_wall_time_covers_the_namespace_the_phases_and_the_time_between_them(
    proof: Any, tmp_path: Path
) -> None:
    res = proof(
        None,
        "gp-x",
        Scenario(SampleApp.variant("prestop-sleep")),
        image="img",
        cluster=CLUSTER,
        out_dir=tmp_path,
        namespace_s=0.5,
    )
    assert res.namespace_s == 0.5
    phases = sum(res.phases.values())
    assert set(res.phases) == {"deploy", "warmup", "verdict"}  # the phases keep their meaning
    assert res.wall_s is not None
    assert res.wall_s >= 0.5 + phases + 0.05


def test_without_the_namespaces_time_the_wall_time_is_the_proofs_own(
    proof: Any, tmp_path: Path
) -> None:
    res = proof(
        None,
        "gp-x",
        Scenario(SampleApp.variant("no-hook")),
        image="img",
        cluster=CLUSTER,
        out_dir=tmp_path,
    )
    assert res.namespace_s is None
    assert res.wall_s is not None and 0.15 <= res.wall_s < 5


def _result(**times: Any) -> ScenarioResult:
    subject = Subject(
        scenario_id="prestop-sleep--delete-one-by-one--new",
        variant="prestop-sleep",
        connection="new",
        expected="no-errors",
    )
    res = ScenarioResult.build(subject, _measurement())
    return replace(res, phases={"deploy": 2.25, "warmup": 3.0}, **times)


def test_the_wall_time_goes_into_the_json_and_back(tmp_path: Path) -> None:
    res = _result(wall_s=6.125, namespace_s=0.25)
    path = res.write_json(tmp_path)
    data = json.loads(path.read_text())
    assert (data["wall_s"], data["namespace_s"]) == (6.125, 0.25)
    assert data["phases"] == {"deploy": 2.25, "warmup": 3.0}
    assert load_json(path) == res


def test_a_result_written_before_the_wall_time_was_recorded_still_loads(tmp_path: Path) -> None:
    data = _result(wall_s=6.0).to_dict()
    del data["wall_s"], data["namespace_s"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    old = load_json(path)
    assert (old.wall_s, old.namespace_s) == (None, None)
    assert old.phases == {"deploy": 2.25, "warmup": 3.0}
