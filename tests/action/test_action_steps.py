"""The composite Action's own steps (action.yml), run here as a runner runs them, to a
verdict on examples/nginx on kind: inputs as INPUT_* variables, GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, GITHUB_PATH and RUNNER_TEMP pointed at temporary files, graceproof
installed from GITHUB_ACTION_PATH into a fresh environment, then hack/action.sh.

Two steps cannot run here as written, and are replaced by their equivalent: "Install
kind" downloads kind's release binary from GitHub (no such network here; hack/kind.sh
builds the same release, and it goes where the step puts it, $RUNNER_TEMP/graceproof/
bin), and setup-python is an action (the machine's python3.11 stands for its
`python-path` output). "Raise inotify limits"
runs its sysctl without sudo (root already). The node image comes from the
environment (GRACEPROOF_NODE_IMAGE, built by hack/kind-node-image.sh), as no
registry serves the pinned one.

Deselected (tests/conftest.py) unless GRACEPROOF_ACTION_STEPS=1, with hack/docker.sh's
engine up: .ci/run runs it after the kind proofs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NGINX = REPO / "examples" / "nginx"

pytestmark = pytest.mark.action_steps


def _run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO
    )


def _step(action: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in action["runs"]["steps"] if s.get("name") == name)


def test_the_actions_steps_prove_the_nginx_example_on_kind(tmp_path: Path) -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    node_image = os.environ.get("GRACEPROOF_NODE_IMAGE", "")
    assert node_image, "GRACEPROOF_NODE_IMAGE names the node image (hack/kind-node-image.sh)"
    docker_host = os.environ.get("DOCKER_HOST", "")
    assert docker_host, "DOCKER_HOST names hack/docker.sh's engine (eval $(hack/docker.sh env))"
    files = {n: tmp_path / n for n in ("output", "summary", "path", "env")}
    for f in files.values():
        f.write_text("")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    work = tmp_path / "workspace"
    work.mkdir()
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "DOCKER_HOST": docker_host,
        "GRACEPROOF_NODE_IMAGE": node_image,
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_PATH": str(files["path"]),
        "GITHUB_ENV": str(files["env"]),
        "RUNNER_TEMP": str(runner_temp),
        "CI": "true",
    }

    # setup-python with update-environment: false: only its python-path output, which
    # the install step reads as PYTHON; nothing on PATH.
    python = shutil.which("python3.11") or sys.executable

    # Install kind: the same release, built here, where the step installs it.
    kind_bin = _run([str(REPO / "hack" / "kind.sh")], env, 900)
    assert kind_bin.returncode == 0, kind_bin.stderr[-2000:]
    kind_dir = runner_temp / "graceproof" / "bin"
    kind_dir.mkdir(parents=True)
    shutil.copy(kind_bin.stdout.strip(), kind_dir / "kind")
    pinned = _step(action, "Install kind")["env"]["KIND_VERSION"]
    assert _run([str(kind_dir / "kind"), "version"], env, 30).stdout.startswith(f"kind {pinned} ")

    # Raise inotify limits: the step's sysctl, as root without sudo.
    inotify = _step(action, "Raise inotify limits")["run"].replace("sudo ", "")
    assert _run(["bash", "-c", inotify], env, 30).returncode == 0

    # Install graceproof, as written (from GITHUB_ACTION_PATH, pinned, into its venv).
    install_env = {**env, "PYTHON": python}
    install = _run(
        ["bash", "-e", "-c", _step(action, "Install graceproof")["run"]], install_env, 900
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    # Nothing for the caller's later steps: no PATH entry, no environment variable.
    assert files["path"].read_text() == "" and files["env"].read_text() == ""

    # The image a team would build in an earlier step: here loaded into Docker from the
    # archive examples/nginx/image.sh writes, then `images:` loads it into kind.
    archive = _run([str(NGINX / "image.sh"), "--no-import"], env, 900)
    assert archive.returncode == 0, archive.stderr[-2000:]
    loaded = _run(["docker", "load", "-i", archive.stdout.strip()], env, 300)
    assert loaded.returncode == 0, loaded.stderr
    image = loaded.stdout.strip().rsplit("Loaded image: ", 1)[-1]

    # Prove: the step's env, inputs from action.yml's defaults and the workflow's `with`.
    prove = _step(action, "Prove")
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    inputs.update(
        {"manifests": str(NGINX / "manifests"), "images": image, "report-dir": str(work / "proof")}
    )
    for var, expr in prove["env"].items():
        name = expr.removeprefix("${{ inputs.").removesuffix(" }}")
        env[var] = inputs[name]
    result = _run(["bash", "-c", prove["run"]], env, 1500)
    out = result.stdout + result.stderr
    print(out[-4000:])
    assert result.returncode == 0, out[-4000:]
    assert "PROVEN" in out

    outputs = dict(
        line.split("=", 1) for line in files["output"].read_text().splitlines() if "=" in line
    )
    assert outputs["report-dir"] == str(work / "proof")
    assert outputs["verdict"] == "proven" and outputs["failed"] == "0", outputs
    assert int(outputs["in-windows"]) > 0 and "rule of three" in outputs["bound"], outputs
    assert files["path"].read_text() == ""
    summary = files["summary"].read_text()
    assert "| scenario |" in summary and "scenarios passed" in summary
    report = Path(outputs["report-dir"])
    assert (report / "summary.md").is_file()
    assert len(list(report.glob("*.json"))) == 2  # the workload and its derived control
