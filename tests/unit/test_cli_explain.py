"""`graceproof explain` on bad input: every refusal exits 2 before any cluster is made,
naming the flag and what would fit; the plan and its cost come before any run; the
table goes to stdout, summary.md and -o json (the runs faked: no cluster here)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from graceproof import cli_explain
from graceproof.action_log import DisruptionRecord
from graceproof.cli import main
from graceproof.counts import Counts
from graceproof.explain import ExplainPlan, Explanation, run_plan
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.subject import Subject

NGINX = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "manifests"


def explain_argv(tmp_path: Path, *extra: str) -> list[str]:
    # The kubeconfig does not even exist: bad input is found before it is read.
    return ["explain", "-f", str(NGINX), "--kubeconfig", str(tmp_path / "nope"), *extra]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--runs", "0"], "argument --runs: must be 1 or more (runs of each variant), not 0"),
        (["--runs", "-2"], "argument --runs: must be 1 or more"),
        (["--runs", "many"], "argument --runs: a whole number of runs, not 'many'"),
        (["--time-budget", "0"], "argument --time-budget: must be more than 0 seconds"),
        (["--protection", "sleep"], "argument --protection: invalid choice: 'sleep'"),
    ],
)
def test_argparse_refuses_bad_values_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(explain_argv(tmp_path, *flags))
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--time-budget", "60"],
            "--time-budget 60 s is too short: the plan needs about 5 min 30 s (12 runs of "
            "about 28 s); give --time-budget 330 or more",
        ),
        (
            ["--protection", "pdb"],
            "--disruption delete-one-by-one: none of the protections deployment/web has "
            "applies to it. Choose a disruption that exercises them (PodDisruptionBudget: "
            "drain-node or evict)",
        ),
        (["--no-control"], "--no-control is prove's"),
        (["--max-error-rate", "0.01"], "--max-error-rate: budgets judge a proof"),
        (["--set", "a=b"], "--values and --set go with --chart"),
    ],
)
def test_bad_input_exits_2_before_touching_a_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(explain_argv(tmp_path, *flags)) == 2
    assert message in capsys.readouterr().err


def test_a_workload_that_is_no_workload_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "svc.yaml").write_text((NGINX / "service.yaml").read_text())
    argv = ["explain", "-f", str(tmp_path / "svc.yaml"), "--dry-run"]
    assert main(argv) == 2
    assert "no Deployment or StatefulSet" in capsys.readouterr().err


def test_the_dry_run_prints_the_plan_and_its_cost(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "-f", str(NGINX), "--dry-run", "--disruption", "drain-node"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("explain: deployment/web under drain-node, 3 run(s) of each variant")
    assert "  variant: PodDisruptionBudget (poddisruptionbudget/web)" in out
    assert "plan: 15 runs of about 28 s each, about 6 min 52 s" in out


def test_without_a_cluster_it_exits_2_after_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["explain", "-f", str(NGINX)]) == 2
    captured = capsys.readouterr()
    assert "plan: 12 runs" in captured.out
    assert "no cluster: give --kubeconfig FILE" in captured.err


def _fake_explain(args: object, options: object, plan: ExplainPlan) -> Explanation:
    """The runs without a cluster: the hook's removal fails 25 requests per run."""
    base = ScenarioResult.build(
        Subject(scenario_id="x", variant="x", connection="new", expected="informative"),
        Measurement(
            cluster=ClusterInfo("kind", "graceproof", "v1.34.0"),
            disruption=DisruptionRecord(kind="delete-one-by-one", started=0.0),
            load={},
            records=[],
            timeline=[],
            started=0.0,
            finished=5.0,
        ),
    )
    made: list[ScenarioResult] = []

    def run(scenario: Scenario) -> ScenarioResult:
        failed = 25 if "prestop-hook" in scenario.workload.removed else 0  # type: ignore[attr-defined]
        counts = Counts(total=1000, failed=failed, in_windows=300, failed_in_windows=failed)
        made.append(dataclasses.replace(base, counts=counts, name=f"run-{len(made) + 1}"))
        return made[-1]

    return run_plan(plan, run)


def test_json_output_carries_the_table_and_summary_md_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setattr(cli_explain, "_explain", _fake_explain)
    reports = tmp_path / "reports"
    argv = ["explain", "-f", str(NGINX), "--kubeconfig", str(kubeconfig), "--report-dir",
            str(reports), "--protection", "prestop-hook", "--protection", "readiness-probe",
            "-o", "json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    rows = {r["protection"]: r for r in doc["rows"]}
    assert rows["prestop-hook"]["verdict"] == "keeps requests" and rows["prestop-hook"]["p"] < 0.01
    assert rows["readiness-probe"]["verdict"] == "no measurable effect at this load"
    assert rows["readiness-probe"]["removed"]["interval"]["method"] == "clopper_pearson"
    assert set(rows) == {"prestop-hook", "readiness-probe"}  # those --protection chose
    assert doc["report"] == str(reports / "summary.md")
    # 3 variants x 3 runs, then the sleep search: 2 s and 1 s held, 2 x 3 runs.
    assert len(doc["results"]) == 15
    # The plan and the table went to stderr, beside the progress.
    assert "plan: 9 runs" in captured.err
    assert "preStop hook (nginx: sleep 5 s) | 75 of 900 in windows" in captured.err
    summary = (reports / "summary.md").read_text()
    assert "## Which settings keep the requests" in summary and "**FAIL**" not in summary
