"""The composite action (action.yml): its inputs and outputs, its pins (those of e2e.yml
and hack/action-constraints.txt), inputs passed as data and never as code, nothing left
on the caller's PATH, and the exact `graceproof prove` argv and outputs that
hack/action.sh makes, run with a fake graceproof where the install step puts the real
one; hack/install-kind.sh with a fake curl."""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from graceproof.action_log import DisruptionRecord
from graceproof.cli import parser
from graceproof.disruptions import DISRUPTIONS
from graceproof.ingress import CONTROLLERS
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.model import RequestRecord, TimelineEvent
from graceproof.providers.kind_release import KIND_NODE_IMAGES, KIND_RELEASE
from graceproof.proving import ProofOutcome, outcome_json
from graceproof.result import ScenarioResult
from graceproof.subject import Subject

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "hack" / "action.sh"
INSTALL_KIND = ROOT / "hack" / "install-kind.sh"
CONSTRAINTS = ROOT / "hack" / "action-constraints.txt"
OUTPUTS_SCRIPT = ROOT / "hack" / "action_outputs.py"
PYPROJECT = ROOT / "pyproject.toml"
E2E = ROOT / ".github" / "workflows" / "e2e.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "action.yml"
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
KIND_PINS = ("KIND_VERSION", "KIND_SHA256_AMD64", "KIND_SHA256_ARM64")
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
    "expect-status": "",
    "users": "",
    "timeout": "",
    "connection": "",
    "ingress": "",
    "load-from": "",
    "load-workers": "",
    "max-error-rate": "",
    "max-unavailable-s": "",
    "max-p99-in-windows-s": "",
    "retryable-count": "",
    "control": "true",
    "report-dir": "graceproof-reports",
}
OUTPUTS = ("verdict", "failed", "in-windows", "bound", "report-dir")
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
    "--output",
    "json",
]
NO_FIGURES = {"failed": "", "in-windows": "", "bound": ""}


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


def _description(name: str) -> str:
    text = _load(ACTION)["inputs"][name]["description"]
    assert isinstance(text, str)
    return text


# -- action.yml ----------------------------------------------------------------------


def test_the_action_is_composite_with_the_documented_inputs_and_defaults() -> None:
    doc = _load(ACTION)
    assert doc["runs"]["using"] == "composite"
    inputs = doc["inputs"]
    assert {name: spec.get("default") for name, spec in inputs.items()} == INPUTS
    for name, spec in inputs.items():
        assert spec["description"], name
        assert spec.get("required") is False, name


def test_every_output_comes_from_the_proof_step() -> None:
    outputs = _load(ACTION)["outputs"]
    assert tuple(outputs) == OUTPUTS
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.prove.outputs.{name} }}}}", name
        assert spec["description"], name
    assert _step(_steps(), "Prove")["id"] == "prove"


def test_the_disruption_input_names_every_disruption_the_cli_accepts() -> None:
    description = _description("disruption")
    assert set(_prove_choices()["disruption"]) == set(DISRUPTIONS)
    assert len(DISRUPTIONS) == 8
    for name in DISRUPTIONS:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", description), name


def _prove_choices() -> dict[str, Any]:
    """Each `graceproof prove` option with choices: its dest -> its choices."""
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    prove = sub.choices["prove"]
    return {a.dest: a.choices for a in prove._actions if a.choices}


def test_the_choice_inputs_name_the_clis_choices() -> None:
    choices = _prove_choices()
    for name in choices["connection"]:
        assert name in _description("connection"), name
    # Subclasses register themselves: test_ingress.py's fake is no choice of a user's.
    shipped = [n for n, c in CONTROLLERS.items() if c.__module__.startswith("graceproof.")]
    assert shipped
    for name in shipped:
        assert name in _description("ingress"), name
    for name in choices["load_from"]:
        assert name in _description("load-from"), name


def test_the_kubernetes_versions_advertised_are_those_graceproof_pins() -> None:
    description = _description("kubernetes-version")
    assert sorted(re.findall(r"\b1\.\d+\b", description)) == sorted(KIND_NODE_IMAGES)
    assert KIND_RELEASE in description
    assert INPUTS["kubernetes-version"] in KIND_NODE_IMAGES


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


def test_python_is_set_up_as_in_e2e_but_left_off_the_callers_path() -> None:
    ours = next(s for s in _steps() if "setup-python" in s.get("uses", ""))
    theirs = next(s for s in _e2e_steps() if "setup-python" in s.get("uses", ""))
    assert ours["uses"] == theirs["uses"]
    assert ours["with"]["python-version"] == theirs["with"]["python-version"] == "3.11"
    assert ours["with"]["update-environment"] is False
    install = _step(_steps(), "Install graceproof")
    assert install["env"] == {"PYTHON": f"${{{{ steps.{ours['id']}.outputs.python-path }}}}"}


def test_no_step_changes_the_callers_path_or_environment() -> None:
    scripts = [s.get("run", "") for s in _steps()]
    scripts += [SCRIPT.read_text(), INSTALL_KIND.read_text()]
    for text in scripts:
        assert "GITHUB_PATH" not in text
        assert "GITHUB_ENV" not in text
    # Whatever python or pip is on the caller's PATH is never the one run.
    for step in _steps():
        assert not re.search(r"(?m)^\s*(python3?|pip3?|graceproof)\b", step.get("run", ""))


def test_kind_is_installed_with_the_pins_and_script_of_e2e() -> None:
    ours = _step(_steps(), "Install kind")
    theirs = _step(_e2e_steps(), "Install kind")
    e2e_env = _load(E2E)["env"]
    assert ours["env"] == {k: e2e_env[k] for k in KIND_PINS}
    assert ours["env"]["KIND_VERSION"] == KIND_RELEASE
    for arch in ("AMD64", "ARM64"):
        assert re.fullmatch(r"[0-9a-f]{64}", ours["env"][f"KIND_SHA256_{arch}"]), arch
    # Where hack/action.sh looks for it; e2e puts its own on PATH.
    assert ours["run"] == (
        'bash "$GITHUB_ACTION_PATH/hack/install-kind.sh" "$RUNNER_TEMP/graceproof/bin"'
    )
    assert theirs["run"].startswith('hack/install-kind.sh "$HOME/.local/bin"\n')


def test_inotify_limits_are_raised_as_in_e2e() -> None:
    ours = _step(_steps(), "Raise inotify limits")
    theirs = _step(_e2e_steps(), "Raise inotify limits")
    assert ours["run"] == theirs["run"]


def test_graceproof_is_installed_pinned_from_the_actions_checkout_into_its_own_venv() -> None:
    steps = _steps()
    run = _step(steps, "Install graceproof")["run"]
    assert "venv=$RUNNER_TEMP/graceproof/venv\n" in run  # where hack/action.sh looks
    assert '"$PYTHON" -m venv "$venv"' in run
    assert "pins=$GITHUB_ACTION_PATH/hack/action-constraints.txt" in run
    installs = [line for line in run.splitlines() if " -m pip install " in line]
    assert len(installs) == 2
    for line in installs:
        assert line.startswith('"$venv/bin/python" -m pip install ')
        assert '-c "$pins"' in line
    # The build backend first, then graceproof built with it (an isolated build would
    # fetch the newest setuptools).
    assert installs[0].endswith(" setuptools wheel")
    assert installs[1].endswith(' --no-build-isolation "$GITHUB_ACTION_PATH"')
    names = [s.get("name", s.get("uses", "")) for s in steps]
    assert names.index("Install graceproof") < names.index("Prove")
    assert names.index("Install kind") < names.index("Prove")


# -- hack/action-constraints.txt -----------------------------------------------------------


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][\w.-]*)==([\w.+!-]+)", line)
        assert match, f"{CONSTRAINTS.name}: {line!r} is not NAME==VERSION"
        name = canonicalize_name(match[1])
        assert name not in pins, f"{CONSTRAINTS.name}: {name} is pinned twice"
        pins[name] = match[2]
    return pins


def _pyproject() -> dict[str, Any]:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("section", ["dependencies", "build-system"])
def test_every_dependency_is_pinned_within_pyprojects_bounds(section: str) -> None:
    doc = _pyproject()
    requires = (
        doc["project"]["dependencies"]
        if section == "dependencies"
        else (doc["build-system"]["requires"])
    )
    pins = _pins()
    for text in requires:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{CONSTRAINTS.name} has no pin for {text!r}: add {req.name}==..."
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{CONSTRAINTS.name} pins {req.name}=={pins[name]}, outside pyproject's {text!r}"
        )


def test_every_package_the_installed_closure_needs_is_pinned() -> None:
    # The closure as the dev venv's metadata gives it (its versions may differ from the
    # pins, the names of what they need rarely do): an unpinned transitive dependency
    # would be installed at its newest release by the action, without a word.
    pins = _pins()
    todo = [(Requirement(r), "") for r in _pyproject()["project"]["dependencies"]]
    seen: set[tuple[str, str]] = set()
    missing: set[str] = set()
    while todo:
        req, extra = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate(
            {**default_environment(), "extra": extra}
        ):
            continue
        for wanted in ["", *req.extras]:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            if name not in pins:
                missing.add(name)
            for sub in importlib.metadata.distribution(name).requires or []:
                todo.append((Requirement(sub), wanted))
    assert not missing, f"add these to {CONSTRAINTS.name}, pinned: {sorted(missing)}"


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

FAKE_GRACEPROOF = """\
import json, os, sys
with open(os.environ["FAKE_ARGV"], "w") as f:
    json.dump({"argv": sys.argv[1:], "path": os.environ["PATH"]}, f)
print("PROVEN: the fake's verdict line", file=sys.stderr)
sys.stdout.write(os.environ.get("FAKE_STDOUT", ""))
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def runner_temp(tmp_path: Path) -> Path:
    """$RUNNER_TEMP as the install steps leave it: a venv whose `graceproof` records its
    argv and PATH, prints $FAKE_STDOUT and exits $FAKE_EXIT; its `python` runs the
    tests' own. A `graceproof` on PATH too, which must never run."""
    temp = tmp_path / "runner-temp"
    venv_bin = temp / "graceproof" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (temp / "graceproof" / "bin").mkdir()
    fake = venv_bin / "graceproof"
    fake.write_text(f"#!{sys.executable}\n{FAKE_GRACEPROOF}")
    python = venv_bin / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    decoy = tmp_path / "path-bin" / "graceproof"
    decoy.parent.mkdir()
    decoy.write_text("#!/bin/sh\necho 'the graceproof on PATH ran' >&2\nexit 99\n")
    for f in (fake, python, decoy):
        f.chmod(0o755)
    return temp


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        argv_file = tmp_path / "argv.json"
        recorded = json.loads(argv_file.read_text()) if argv_file.is_file() else None
        self.argv: list[str] | None = recorded and recorded["argv"]
        self.path: str | None = recorded and recorded["path"]
        self.output = (tmp_path / "github_output").read_text()
        self.outputs = dict(line.split("=", 1) for line in self.output.splitlines())
        self.summary = (tmp_path / "step_summary").read_text()


def run_action(
    tmp_path: Path,
    inputs: Mapping[str, str],
    fake_exit: int = 0,
    stdout: str = "",
    runner_temp: Path | None = None,
) -> Run:
    """hack/action.sh with `inputs` over action.yml's defaults, as GitHub passes them."""
    unknown = set(inputs) - set(INPUTS)
    assert not unknown, unknown
    env = {
        "PATH": f"{tmp_path / 'path-bin'}{os.pathsep}{os.environ['PATH']}",
        "FAKE_ARGV": str(tmp_path / "argv.json"),
        "FAKE_EXIT": str(fake_exit),
        "FAKE_STDOUT": stdout,
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary"),
        "RUNNER_TEMP": str(runner_temp or tmp_path / "runner-temp"),
    }
    env.update({_env_name(name): value for name, value in {**INPUTS, **inputs}.items()})
    (tmp_path / "github_output").write_text("")
    (tmp_path / "step_summary").write_text("")
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


def verdict_json(*, proven: bool, failed: int, in_windows: int, bound: str) -> str:
    """The shape of `graceproof prove -o json` (graceproof.proving.outcome_json)."""
    hooked = {
        "scenario_id": "web",
        "passed": proven,
        "counts": {"total": 5000, "failed": failed, "in_windows": in_windows},
        "bound": {"k": failed, "n": 5000, "text": bound},
    }
    doc = {"proven": proven, "verdict": "PROVEN" if proven else "NOT PROVEN", "hooked": hooked}
    return json.dumps({**doc, "control": None, "report": "r/summary.md", "hints": []}, indent=2)


def test_manifests_give_one_f_per_line(tmp_path: Path, runner_temp: Path) -> None:
    run = run_action(tmp_path, {"manifests": "deploy/web.yaml\n\n  deploy/db/  \n"})
    assert run.returncode == 0, run.stderr
    assert run.argv == ["prove", "-f", "deploy/web.yaml", "-f", "deploy/db/", *DEFAULT_TAIL]


def test_a_chart_takes_its_values_and_sets(tmp_path: Path, runner_temp: Path) -> None:
    run = run_action(
        tmp_path,
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


def test_every_input_maps_to_its_flag(tmp_path: Path, runner_temp: Path) -> None:
    run = run_action(
        tmp_path,
        {
            "kustomize": "deploy/overlays/ci",
            "images": "myapp:ci\nsidecar:1.0",
            "kubernetes-version": "1.35",
            "disruption": "rollout-restart",
            "target": "deployment/web",
            "service": "web:http",
            "path": "/healthz",
            "expect-status": "200,204",
            "users": "20",
            "timeout": "5",
            "connection": "keepalive",
            "load-from": "cluster",
            "load-workers": "3",
            "max-error-rate": "0.001",
            "max-unavailable-s": "0.5",
            "max-p99-in-windows-s": "2",
            "retryable-count": "no",
            "control": "false",
            "report-dir": "out/proof",
        },
    )
    assert run.returncode == 0, run.stderr
    argv = [
        "prove",
        "-k",
        "deploy/overlays/ci",
        "--image",
        "myapp:ci",
        "--image",
        "sidecar:1.0",
        "--kind",
        "--k8s-version",
        "1.35",
        "--disruption",
        "rollout-restart",
        "--target",
        "deployment/web",
        "--service",
        "web:http",
        "--path",
        "/healthz",
        "--expect-status",
        "200,204",
        "--users",
        "20",
        "--timeout",
        "5",
        "--connection",
        "keepalive",
        "--load-from",
        "cluster",
        "--load-workers",
        "3",
        "--max-error-rate",
        "0.001",
        "--max-unavailable-s",
        "0.5",
        "--max-p99-in-windows-s",
        "2",
        "--retryable-count",
        "no",
        "--no-control",
        "--report-dir",
        "out/proof",
        "--output",
        "json",
    ]
    assert run.argv == argv
    # And the CLI takes them as meant: the flags exist and the values are valid.
    args = parser().parse_args(argv)
    assert (args.users, args.connection, args.expect_status) == (20, "keepalive", (200, 204))
    assert (args.load_from, args.load_workers, args.max_error_rate) == ("cluster", 3, 0.001)
    assert (args.max_unavailable_s, args.max_p99_in_windows_s) == (0.5, 2.0)
    assert args.retryable_count == "no"
    assert args.output == "json"


def test_the_ingress_input_gives_its_flag(tmp_path: Path, runner_temp: Path) -> None:
    run = run_action(tmp_path, {"manifests": "m.yaml", "ingress": "traefik"})
    assert run.returncode == 0, run.stderr
    assert run.argv is not None
    assert parser().parse_args(run.argv).ingress == "traefik"


@pytest.mark.parametrize("control", ["true", "True", ""])
def test_the_control_runs_unless_turned_off(
    tmp_path: Path, runner_temp: Path, control: str
) -> None:
    run = run_action(tmp_path, {"manifests": "m.yaml", "control": control})
    assert run.returncode == 0, run.stderr
    assert run.argv is not None
    assert "--no-control" not in run.argv


def test_empty_optional_inputs_are_left_out(tmp_path: Path, runner_temp: Path) -> None:
    run = run_action(
        tmp_path,
        {"manifests": "m.yaml", "kubernetes-version": "", "disruption": " ", "path": ""},
    )
    assert run.returncode == 0, run.stderr
    assert run.argv == [
        "prove", "-f", "m.yaml", "--kind", "--report-dir", "graceproof-reports", "--output", "json"
    ]  # fmt: skip


def test_a_value_with_spaces_quotes_and_shell_syntax_stays_one_argument(
    tmp_path: Path, runner_temp: Path
) -> None:
    value = """greeting=it's "quoted" $(touch pwned) `touch pwned2` ; touch pwned3 * $HOME"""
    run = run_action(tmp_path, {"chart": "my chart/", "set": value})
    assert run.returncode == 0, run.stderr
    assert run.argv == ["prove", "--chart", "my chart/", "--set", value, *DEFAULT_TAIL]
    assert not list(tmp_path.glob("pwned*"))


def test_the_venvs_graceproof_runs_with_kind_first_on_its_path(
    tmp_path: Path, runner_temp: Path
) -> None:
    run = run_action(tmp_path, {"manifests": "m.yaml"})
    assert run.returncode == 0, run.stderr
    assert "the graceproof on PATH ran" not in run.stderr
    assert run.path is not None
    assert run.path.split(os.pathsep)[0] == str(runner_temp / "graceproof" / "bin")


def _action_outputs() -> Any:
    spec = importlib.util.spec_from_file_location("action_outputs", OUTPUTS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("failures", [0, 4])
def test_the_outputs_read_what_graceproof_prove_prints(tmp_path: Path, failures: int) -> None:
    # The real document (proving.outcome_json), not a copy of its shape.
    t0 = 1_764_400_000.0
    records = [
        RequestRecord(t0 + i / 50, 0.005, i >= failures, 200 if i >= failures else 0, None, "w-1")
        for i in range(500)
    ]
    timeline = [
        TimelineEvent(t=t0 + 0.01, kind="pod_deleted", pod="w-1", detail={}),
        TimelineEvent(t=t0 + 3.0, kind="pod_gone", pod="w-1", detail={}),
    ]
    result = ScenarioResult.build(
        Subject(scenario_id="web", variant="prestop-http", connection="new", expected="no-errors"),
        Measurement(
            cluster=ClusterInfo(provider="kind", name="graceproof", kubernetes_version="v1.34.0"),
            disruption=DisruptionRecord(kind="delete-one-by-one", started=t0, finished=t0 + 3),
            load={"users": 1},
            records=records,
            timeline=timeline,
            started=t0,
            finished=t0 + 10,
        ),
    )
    outcome = ProofOutcome(hooked=result, control=None)
    doc = json.loads(json.dumps(outcome_json(outcome, tmp_path, tmp_path / "summary.md")))
    assert result.counts.in_windows > 0
    assert _action_outputs().outputs(doc, 0 if outcome.proven else 1) == {
        "verdict": "proven" if failures == 0 else "not-proven",
        "failed": str(failures),
        "in-windows": str(result.counts.in_windows),
        "bound": result.stats["overall"].describe(),
    }


def test_a_proof_gives_every_output_and_exit_0(tmp_path: Path, runner_temp: Path) -> None:
    doc = verdict_json(proven=True, failed=0, in_windows=812, bound="< 0.06% (95%, rule of three)")
    run = run_action(tmp_path, {"manifests": "m.yaml"}, stdout=doc)
    assert run.returncode == 0, run.stderr
    assert run.outputs == {
        "report-dir": "graceproof-reports",
        "verdict": "proven",
        "failed": "0",
        "in-windows": "812",
        "bound": "< 0.06% (95%, rule of three)",
    }
    # The human verdict stays in the log; the JSON is not printed.
    assert "PROVEN: the fake's verdict line" in run.stderr
    assert '"hooked"' not in run.stdout
    assert "graceproof prove -f m.yaml --kind" in run.stdout
    assert run.summary == ""  # graceproof writes its own


def test_a_failed_proof_still_gives_its_outputs_and_exits_1(
    tmp_path: Path, runner_temp: Path
) -> None:
    doc = verdict_json(proven=False, failed=7, in_windows=640, bound="0.14% [0.06%, 0.3%] (95% CI)")
    run = run_action(tmp_path, {"manifests": "m.yaml"}, fake_exit=1, stdout=doc)
    assert run.returncode == 1
    assert run.outputs == {
        "report-dir": "graceproof-reports",
        "verdict": "not-proven",
        "failed": "7",
        "in-windows": "640",
        "bound": "0.14% [0.06%, 0.3%] (95% CI)",
    }
    # report-dir first: written before the proof, so a cancelled one still has it.
    assert run.output.startswith("report-dir=graceproof-reports\n")


@pytest.mark.parametrize(
    "exit_status, stdout, verdict",
    [
        (2, "", "error"),  # bad input found by graceproof: no JSON
        (1, "", "not-proven"),  # stopped mid-run: "graceproof prove: not proven: ..."
        (2, "Traceback (most recent call last):\n", "error"),
        (1, "[1, 2]", "not-proven"),
        (3, '{"proven": true}', "error"),
    ],
)
def test_without_a_verdict_document_the_outputs_follow_the_exit_status(
    tmp_path: Path, runner_temp: Path, exit_status: int, stdout: str, verdict: str
) -> None:
    run = run_action(tmp_path, {"manifests": "m.yaml"}, fake_exit=exit_status, stdout=stdout)
    assert run.returncode == exit_status
    assert run.outputs == {"report-dir": "graceproof-reports", "verdict": verdict, **NO_FIGURES}


def test_no_verdict_is_said_in_the_job_summary(tmp_path: Path, runner_temp: Path) -> None:
    run = run_action(tmp_path, {"manifests": "m.yaml"}, fake_exit=2)
    assert "## graceproof: no verdict" in run.summary
    assert "exited 2" in run.summary
    assert "](" not in run.summary


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
    tmp_path: Path, runner_temp: Path, inputs: dict[str, str], message: str
) -> None:
    run = run_action(tmp_path, inputs)
    assert run.returncode == 2
    assert message in run.stderr
    assert run.argv is None
    assert run.outputs == {"verdict": "error", **NO_FIGURES}


def test_without_the_install_step_it_says_which_step_is_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty-runner-temp"
    empty.mkdir()
    (tmp_path / "path-bin").mkdir()
    run = run_action(tmp_path, {"manifests": "m.yaml"}, runner_temp=empty)
    assert run.returncode == 2
    assert "step 'Install graceproof'" in run.stderr
    assert run.outputs["verdict"] == "error"


# -- hack/install-kind.sh ------------------------------------------------------------------

FAKE_CURL = """\
#!/bin/sh
# curl -fsSLo FILE URL: FILE gets the URL's text, so its sha256 is known in advance.
printf '%s' "$3" >"$2"
"""
KIND_URL = "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-{}"


def _sha256(arch: str) -> str:
    return hashlib.sha256(KIND_URL.format(arch).encode()).hexdigest()


def install_kind(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    base = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "RUNNER_OS": "Linux",
        "KIND_VERSION": "v0.33.0",
        "KIND_SHA256_AMD64": _sha256("amd64"),
        "KIND_SHA256_ARM64": _sha256("arm64"),
    }
    return subprocess.run(
        ["bash", str(INSTALL_KIND), str(tmp_path / "kind-bin")],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("runner_arch, arch", [("X64", "amd64"), ("ARM64", "arm64")])
def test_kind_is_the_binary_of_the_runners_arch(
    tmp_path: Path, runner_arch: str, arch: str
) -> None:
    proc = install_kind(tmp_path, RUNNER_ARCH=runner_arch)
    assert proc.returncode == 0, proc.stderr
    kind = tmp_path / "kind-bin" / "kind"
    assert kind.read_text() == KIND_URL.format(arch)
    assert os.access(kind, os.X_OK)


def test_a_kind_binary_that_does_not_match_its_sha256_is_not_installed(tmp_path: Path) -> None:
    proc = install_kind(tmp_path, RUNNER_ARCH="ARM64", KIND_SHA256_ARM64=_sha256("amd64"))
    assert proc.returncode != 0
    assert "does not match KIND_SHA256_ARM64" in proc.stderr
    assert not (tmp_path / "kind-bin" / "kind").exists()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"RUNNER_ARCH": "ARM"}, "no kind binary is pinned for runner.arch 'ARM'"),
        ({"RUNNER_ARCH": ""}, "use an X64 or ARM64 Linux runner"),
        (
            {"RUNNER_ARCH": "X64", "RUNNER_OS": "macOS"},
            "need a Linux runner with Docker, not macOS",
        ),
        ({"RUNNER_ARCH": "X64", "KIND_SHA256_AMD64": ""}, "must give KIND_SHA256_AMD64"),
    ],
)
def test_a_runner_without_a_pinned_kind_gets_a_clear_error(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    proc = install_kind(tmp_path, **env)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (tmp_path / "kind-bin").exists()
