"""The composite action (action.yml): its inputs, its pins (those of e2e.yml), inputs
passed as data and never as code, and the exact `graceproof prove` argv that
hack/action.sh builds from them, run with a fake `graceproof` on PATH."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "hack" / "action.sh"
E2E = ROOT / ".github" / "workflows" / "e2e.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "action.yml"
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
INPUTS = {
    "manifests": "",
    "kustomize": "",
    "chart": "",
    "values": "",
    "set": "",
    "images": "",
    "kubernetes-version": "1.34",
    "disruption": "delete-one-by-one",
    "target": "",
    "service": "",
    "path": "/",
    "control": "true",
    "report-dir": "graceproof-reports",
}
# What every run with the defaults ends with.
DEFAULT_TAIL = [
    "--kind",
    "--k8s-version",
    "1.34",
    "--disruption",
    "delete-one-by-one",
    "--path",
    "/",
    "--report-dir",
    "graceproof-reports",
]


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _steps() -> list[dict[str, Any]]:
    steps = _load(ACTION)["runs"]["steps"]
    assert isinstance(steps, list)
    return steps


def _step(steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(s for s in steps if s.get("name", "").startswith(name))


def _e2e_steps() -> list[dict[str, Any]]:
    return [s for job in _load(E2E)["jobs"].values() for s in job["steps"]]


def _env_name(input_name: str) -> str:
    return "INPUT_" + input_name.upper().replace("-", "_")


# -- action.yml ----------------------------------------------------------------------


def test_the_action_is_composite_with_the_documented_inputs_and_defaults() -> None:
    doc = _load(ACTION)
    assert doc["runs"]["using"] == "composite"
    inputs = doc["inputs"]
    assert {name: spec.get("default") for name, spec in inputs.items()} == INPUTS
    for name, spec in inputs.items():
        assert spec["description"], name
        assert spec.get("required") is False, name


def test_the_action_outputs_the_report_dir_of_its_proof_step() -> None:
    doc = _load(ACTION)
    assert doc["outputs"]["report-dir"]["value"] == "${{ steps.prove.outputs.report-dir }}"
    assert _step(_steps(), "Prove")["id"] == "prove"


def test_no_input_is_interpolated_into_a_script() -> None:
    # ${{ inputs.x }} in `run:` is pasted into the script before bash reads it:
    # a value like `$(curl ...)` would run. Inputs travel through env: only.
    for step in _steps():
        assert "${{" not in step.get("run", ""), step
    prove = _step(_steps(), "Prove")
    assert prove["env"] == {_env_name(n): f"${{{{ inputs.{n} }}}}" for n in INPUTS}
    assert prove["run"] == 'bash "$GITHUB_ACTION_PATH/hack/action.sh"'


def test_every_run_step_names_its_shell() -> None:
    # A composite action's run steps have no default shell.
    for step in _steps():
        if "run" in step:
            assert step["shell"] == "bash", step


def test_every_action_the_action_uses_is_pinned_by_commit_sha() -> None:
    uses = [s["uses"] for s in _steps() if "uses" in s]
    assert uses
    for ref in uses:
        assert PINNED.fullmatch(ref), ref


def test_python_is_set_up_as_in_e2e() -> None:
    ours = next(s for s in _steps() if "setup-python" in s.get("uses", ""))
    theirs = next(s for s in _e2e_steps() if "setup-python" in s.get("uses", ""))
    assert ours["uses"] == theirs["uses"]
    assert ours["with"]["python-version"] == theirs["with"]["python-version"] == "3.11"


def test_kind_is_installed_exactly_as_in_e2e() -> None:
    ours = _step(_steps(), "Install kind")
    theirs = _step(_e2e_steps(), "Install kind")
    assert ours["run"] == theirs["run"]
    e2e_env = _load(E2E)["env"]
    assert ours["env"] == {k: e2e_env[k] for k in ("KIND_VERSION", "KIND_SHA256")}


def test_inotify_limits_are_raised_as_in_e2e() -> None:
    ours = _step(_steps(), "Raise inotify limits")
    theirs = _step(_e2e_steps(), "Raise inotify limits")
    assert ours["run"] == theirs["run"]


def test_graceproof_is_installed_from_the_actions_own_checkout() -> None:
    steps = _steps()
    install = _step(steps, "Install graceproof")
    assert install["run"] == 'python -m pip install "$GITHUB_ACTION_PATH"'
    names = [s.get("name", s.get("uses", "")) for s in steps]
    assert names.index("Install graceproof") < names.index("Prove")


# -- .github/workflows/action.yml ----------------------------------------------------------


def test_the_workflow_uses_the_local_action_on_the_sample_workload() -> None:
    doc = _load(WORKFLOW)
    assert doc["permissions"] == {"contents": "read"}
    assert doc["concurrency"]["cancel-in-progress"] is True
    (job,) = doc["jobs"].values()
    assert 0 < job["timeout-minutes"] <= 60
    steps = job["steps"]
    local = next(s for s in steps if s.get("uses") == "./")
    assert set(local["with"]) <= set(INPUTS)
    for path in local["with"]["manifests"].split():
        assert (ROOT / path).exists(), path
    for step in steps:
        ref = step.get("uses", "./")
        assert ref == "./" or PINNED.fullmatch(ref), ref
        if ref.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == f"${{{{ steps.{local['id']}.outputs.report-dir }}}}"


# -- hack/action.sh --------------------------------------------------------------------


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A folder with a `graceproof` that records its argv as JSON and exits $FAKE_EXIT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "graceproof"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "with open(os.environ['FAKE_ARGV'], 'w') as f:\n"
        "    json.dump(sys.argv[1:], f)\n"
        "sys.exit(int(os.environ.get('FAKE_EXIT', '0')))\n"
    )
    fake.chmod(0o755)
    return bin_dir


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        argv_file = tmp_path / "argv.json"
        self.argv: list[str] | None = (
            json.loads(argv_file.read_text()) if argv_file.is_file() else None
        )
        self.output = (tmp_path / "github_output").read_text()


def run_action(
    tmp_path: Path, fake_bin: Path, inputs: Mapping[str, str], fake_exit: int = 0
) -> Run:
    """hack/action.sh with `inputs` over action.yml's defaults, as GitHub passes them."""
    unknown = set(inputs) - set(INPUTS)
    assert not unknown, unknown
    env = {
        "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
        "FAKE_ARGV": str(tmp_path / "argv.json"),
        "FAKE_EXIT": str(fake_exit),
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }
    env.update({_env_name(name): value for name, value in {**INPUTS, **inputs}.items()})
    (tmp_path / "github_output").write_text("")
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return Run(proc, tmp_path)


def test_manifests_give_one_f_per_line(tmp_path: Path, fake_bin: Path) -> None:
    run = run_action(tmp_path, fake_bin, {"manifests": "deploy/web.yaml\n\n  deploy/db/  \n"})
    assert run.returncode == 0, run.stderr
    assert run.argv == ["prove", "-f", "deploy/web.yaml", "-f", "deploy/db/", *DEFAULT_TAIL]


def test_a_chart_takes_its_values_and_sets(tmp_path: Path, fake_bin: Path) -> None:
    run = run_action(
        tmp_path,
        fake_bin,
        {
            "chart": "charts/web",
            "values": "values.yaml\nci values.yaml",
            "set": "replicas=3\nimage.tag=1.2.3\n",
        },
    )
    assert run.returncode == 0, run.stderr
    assert run.argv == [
        "prove",
        "--chart",
        "charts/web",
        "--values",
        "values.yaml",
        "--values",
        "ci values.yaml",
        "--set",
        "replicas=3",
        "--set",
        "image.tag=1.2.3",
        *DEFAULT_TAIL,
    ]


def test_every_input_maps_to_its_flag(tmp_path: Path, fake_bin: Path) -> None:
    run = run_action(
        tmp_path,
        fake_bin,
        {
            "kustomize": "deploy/overlays/ci",
            "images": "myapp:ci\nsidecar:1.0",
            "kubernetes-version": "1.32",
            "disruption": "rollout-restart",
            "target": "deployment/web",
            "service": "web:http",
            "path": "/healthz",
            "control": "false",
            "report-dir": "out/proof",
        },
    )
    assert run.returncode == 0, run.stderr
    assert run.argv == [
        "prove",
        "-k",
        "deploy/overlays/ci",
        "--image",
        "myapp:ci",
        "--image",
        "sidecar:1.0",
        "--kind",
        "--k8s-version",
        "1.32",
        "--disruption",
        "rollout-restart",
        "--target",
        "deployment/web",
        "--service",
        "web:http",
        "--path",
        "/healthz",
        "--no-control",
        "--report-dir",
        "out/proof",
    ]
    assert run.output == "report-dir=out/proof\n"


@pytest.mark.parametrize("control", ["true", "True", ""])
def test_the_control_runs_unless_turned_off(tmp_path: Path, fake_bin: Path, control: str) -> None:
    run = run_action(tmp_path, fake_bin, {"manifests": "m.yaml", "control": control})
    assert run.returncode == 0, run.stderr
    assert run.argv is not None
    assert "--no-control" not in run.argv


def test_empty_optional_inputs_are_left_out(tmp_path: Path, fake_bin: Path) -> None:
    run = run_action(
        tmp_path,
        fake_bin,
        {"manifests": "m.yaml", "kubernetes-version": "", "disruption": " ", "path": ""},
    )
    assert run.returncode == 0, run.stderr
    assert run.argv == ["prove", "-f", "m.yaml", "--kind", "--report-dir", "graceproof-reports"]


def test_a_value_with_spaces_quotes_and_shell_syntax_stays_one_argument(
    tmp_path: Path, fake_bin: Path
) -> None:
    value = """greeting=it's "quoted" $(touch pwned) `touch pwned2` ; touch pwned3 * $HOME"""
    run = run_action(tmp_path, fake_bin, {"chart": "my chart/", "set": value})
    assert run.returncode == 0, run.stderr
    assert run.argv == ["prove", "--chart", "my chart/", "--set", value, *DEFAULT_TAIL]
    assert not list(tmp_path.glob("pwned*"))


def test_the_verdict_is_the_steps_exit_status(tmp_path: Path, fake_bin: Path) -> None:
    run = run_action(tmp_path, fake_bin, {"manifests": "m.yaml"}, fake_exit=1)
    assert run.returncode == 1
    # Written before the proof, so a caller can upload the report of a failed one.
    assert run.output == "report-dir=graceproof-reports\n"
    assert "graceproof prove -f m.yaml --kind" in run.stdout


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({}, "exactly one of the inputs manifests, kustomize and chart"),
        ({"manifests": "m.yaml", "chart": "c/"}, "exactly one of"),
        ({"manifests": "m.yaml", "control": "maybe"}, "control must be true or false"),
        ({"manifests": "m.yaml", "report-dir": " "}, "report-dir must be one folder"),
        ({"manifests": "m.yaml", "report-dir": "a\nb"}, "report-dir must be one folder"),
    ],
)
def test_bad_inputs_exit_2_before_graceproof_runs(
    tmp_path: Path, fake_bin: Path, inputs: dict[str, str], message: str
) -> None:
    run = run_action(tmp_path, fake_bin, inputs)
    assert run.returncode == 2
    assert message in run.stderr
    assert run.argv is None
    assert run.output == ""
