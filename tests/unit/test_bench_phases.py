"""benchmarks/phases.py reads report folders and says where the time went: per phase,
per group of proofs, and the ratio of wall time to phases; two folders side by side."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from graceproof.action_log import DisruptionRecord
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord
from graceproof.result import ScenarioResult
from graceproof.subject import Subject

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "phases.py"
T0 = 1_700_000_000.0
PHASES = {
    "deploy": 2.0,
    "load_start": 1.0,
    "warmup": 3.0,
    "disruption": 4.0,
    "terminations": 2.0,
    "settle": 2.0,
    "load_stop": 0.5,
    "verdict": 0.5,
}  # 15 s, 11 of them measured


@pytest.fixture(scope="module")
def phases() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_phases", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def result(variant: str, *, wall: float | None, scale: float = 1.0, n: int = 1) -> ScenarioResult:
    res = ScenarioResult.build(
        Subject(
            scenario_id=f"{variant}--delete-one-by-one--new",
            variant=variant,
            connection="new",
            expected="no-errors",
        ),
        Measurement(
            cluster=ClusterInfo("kind", "graceproof", "v1.34.0"),
            disruption=DisruptionRecord(kind="delete-one-by-one", started=T0, finished=T0 + 1),
            load={"users": 1},
            records=[RequestRecord(T0, 0.01, True, 200, None, "web-1")],
            timeline=[],
            started=T0,
            finished=T0 + 2,
        ),
        name=f"{variant}--{n}",
    )
    return replace(
        res,
        phases={k: v * scale for k, v in PHASES.items()},
        wall_s=wall,
        namespace_s=None if wall is None else 0.5,
    )


def write(folder: Path, *results: ScenarioResult) -> Path:
    for r in results:
        r.write_json(folder)
    (folder / "locust_stats.json").write_text("[]")  # foreign JSON is skipped
    return folder


def test_one_folder_per_phase_per_variant_and_the_wall_ratio(
    phases: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(
        tmp_path / "after",
        result("prestop-sleep", wall=18.0, n=1),
        result("prestop-sleep", wall=16.5, n=2),
        result("no-hook", wall=30.0, n=3),
    )
    assert phases.main([str(folder)]) == 0
    out = capsys.readouterr().out
    lines = {line.split("  ")[0].strip(): line for line in out.splitlines() if line.strip()}
    assert "proofs: " in out and ": 3" in out
    assert "2.00 s" in lines["deploy"] and "6.0 s" in lines["deploy"]  # median, total
    assert "11.00 s" in lines["(measured)"]
    assert "15.00 s" in lines["(sum of phases)"]
    assert "2.50 s" in lines["(other)"]  # 18 - 15 - 0.5 (namespace), the median
    assert "n=2" in lines["prestop-sleep"] and "34.5 s" in lines["prestop-sleep"]
    assert "1.20 / 2.00" in lines["wall / phases"]  # 18/15 median, 30/15 max


def test_two_folders_side_by_side_and_old_results_without_wall_time(
    phases: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = write(tmp_path / "before", result("no-hook", wall=None, scale=2.0))
    after = write(tmp_path / "after", result("no-hook", wall=16.5))
    assert phases.main([str(before), str(after)]) == 0
    out = capsys.readouterr().out
    deploy = next(line for line in out.splitlines() if line.startswith("deploy"))
    assert deploy.index("4.00 s") < deploy.index("2.00 s")  # before, then after
    ratio = next(line for line in out.splitlines() if line.startswith("wall / phases"))
    assert "not recorded" in ratio and "1.10 / 1.10" in ratio
    # Grouped by the sum of phases where no wall time is recorded.
    group = next(line for line in out.splitlines() if line.startswith("no-hook"))
    assert "30.00 s" in group and "16.50 s" in group


def test_grouped_by_disruption_and_an_empty_folder_is_an_error(
    phases: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path / "r", result("no-hook", wall=16.0))
    assert phases.main(["--by", "disruption", str(folder)]) == 0
    assert "delete-one-by-one" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert phases.main([str(tmp_path / "empty")]) == 2
    assert "no graceproof results" in capsys.readouterr().err
