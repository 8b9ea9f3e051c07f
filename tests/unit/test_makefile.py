"""The Makefile's entry points and hack/provider.sh, checked with `make -n` (nothing runs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
BASH = shutil.which("bash")
PROVIDER_SH = REPO / "hack" / "provider.sh"

pytestmark = pytest.mark.skipif(MAKE is None or BASH is None, reason="needs make and bash")

# Variables a developer may have exported, and make's own, which would leak into
# the runs below and change what they print.
_LEAKY_ENV = {
    "PROVIDER",
    "K8S_VERSION",
    "CLUSTER_NAME",
    "REPORT_DIR",
    "ARTIFACTS_DIR",
    "GRACEPROOF_LOCAL_CLUSTER_DIR",
    "PYTEST_ARGS",
    "PYTHON",
    "VENV",
    "WORKLOAD_IMAGE",
    "REQUIRE_SHELLCHECK",
    "CLEAN_NAMESPACES_CMD",
    "LOCAL_KUBECONFIG",
    "CI",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
}


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run(
        [MAKE, "--no-print-directory", *args],
        cwd=REPO,
        env={**_clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _dry_run(*args: str, env: dict[str, str] | None = None) -> str:
    proc = _make("-n", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_e2e_with_kind_builds_the_image_with_docker_and_runs_the_kind_provider() -> None:
    out = _dry_run("e2e", "PROVIDER=kind")
    assert "docker build -t graceproof/workload:0.1.0 workloads/" in out
    assert "--gp-provider kind" in out
    assert "--gp-k8s-version 1.34" in out
    assert "--gp-cluster-name graceproof" in out


def test_e2e_with_kind_touches_nothing_of_the_local_cluster() -> None:
    out = _dry_run("e2e", "PROVIDER=kind")
    assert "local-cluster" not in out
    assert "--gp-provider existing" not in out
    # With hack/docker.sh's engine, the images come from hack/'s archives, made without
    # importing them anywhere (each script's --no-import), then `kind load image-archive`.
    assert re.findall(r"hack/images\.sh[^)]*", out)[:2] == [
        "hack/images.sh --no-import",
        "hack/images.sh --no-import --print load",
    ]
    assert "GRACEPROOF_BUILD_ARCHIVES=1" in out


def test_tools_only_some_tests_need_are_not_built_before_the_first_proof() -> None:
    # Traefik, the nginx example and helm are built by tests/hack_builds.py's fixtures
    # when the first test that needs them comes (issue 27: the first verdict first).
    for target in ("e2e PROVIDER=kind", "e2e PROVIDER=local", "test"):
        out = _dry_run(*target.split())
        for script in ("hack/ingress.sh", "examples/nginx/image.sh", "hack/tools.sh helm"):
            assert script not in out, (target, script)


def test_e2e_with_kind_on_this_machines_engine_builds_kind_and_its_node_image() -> None:
    out = _dry_run("e2e", "PROVIDER=kind")
    assert "if hack/docker.sh status" in out and 'eval "$(hack/docker.sh env)"' in out
    assert 'kind_bin=$(hack/kind.sh); PATH="${kind_bin%/*}:$PATH"' in out
    assert "node=${node:-$(hack/kind-node-image.sh)}" in out
    assert 'set -- --gp-node-image "$node" --gp-image-archive "$archive"' in out
    assert "--gp-node-image 'me/node:v1'" in _dry_run(
        "e2e", "PROVIDER=kind", "KIND_NODE_IMAGE=me/node:v1"
    )


def test_e2e_with_kind_passes_the_requested_kubernetes_minor() -> None:
    out = _dry_run("e2e", "PROVIDER=kind", "K8S_VERSION=1.32")
    assert "--gp-k8s-version 1.32" in out


def test_e2e_on_the_local_cluster_brings_it_up_and_imports_the_image() -> None:
    out = _dry_run("e2e", "PROVIDER=local")
    assert "hack/local-cluster.sh up" in out
    assert "archive=$(hack/images.sh)" in out
    assert "--gp-provider existing" in out
    assert "--gp-kubeconfig .local-cluster/kubeconfig" in out
    assert '--gp-image-archive "$archive"' in out


def test_e2e_on_the_local_cluster_uses_neither_docker_nor_kind() -> None:
    out = _dry_run("e2e", "PROVIDER=local")
    assert "docker" not in out
    assert "--gp-provider kind" not in out
    assert "--gp-k8s-version" not in out


def test_e2e_writes_the_report_into_report_dir_and_says_where() -> None:
    for provider in ("kind", "local"):
        out = _dry_run("e2e", f"PROVIDER={provider}", "REPORT_DIR=out/proofs")
        assert "--gp-report-dir out/proofs" in out
        assert "report in out/proofs/" in out
        # The message is printed whether pytest passed or not, and its status is kept.
        assert re.search(r"\|\| rc=\$\?;.*exit \$rc", out, re.DOTALL)


def test_e2e_announces_the_provider_and_the_reason_on_stderr() -> None:
    proc = _make("-n", "e2e", "PROVIDER=kind")
    assert "provider kind (PROVIDER=kind was given)" in proc.stderr


def test_e2e_rejects_an_unknown_provider() -> None:
    proc = _make("-n", "e2e", "PROVIDER=minikube")
    assert proc.returncode != 0
    assert "PROVIDER must be auto, kind or local" in proc.stderr


def test_images_follows_the_provider() -> None:
    assert "docker build -t graceproof/workload:0.1.0 workloads/" in _dry_run(
        "images", "PROVIDER=kind"
    )
    local = _dry_run("images", "PROVIDER=local")
    assert "hack/images.sh" in local
    assert "docker" not in local


def test_help_is_the_default_goal_and_lists_every_documented_target() -> None:
    default = _make()
    assert default.returncode == 0, default.stderr
    assert default.stdout == _make("help").stdout
    listed = set(re.findall(r"^  ([a-z][a-z0-9_-]*) ", default.stdout, re.MULTILINE))
    expected = {"help", "venv", "local-cluster", "local-cluster-down", "images", "e2e"}
    expected |= {"test", "unit", "lint", "clean"}
    assert expected <= listed


def test_help_lists_the_variables_with_their_defaults() -> None:
    out = _make("help").stdout
    for name, default in [
        ("PYTHON", "python3"),
        ("VENV", ".venv"),
        ("PROVIDER", "auto"),
        ("K8S_VERSION", "1.34"),
        ("CLUSTER_NAME", "graceproof"),
        ("REPORT_DIR", "reports"),
    ]:
        assert re.search(rf"^  {name} .*\(default: {re.escape(default)}\)$", out, re.MULTILINE)


def test_venv_installs_the_project_with_dev_extras(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    out = _dry_run("venv", f"VENV={venv}")
    assert f"python3 -m venv {venv}" in out
    assert f"{venv}/bin/python -m pip install -e '.[dev]'" in out


def test_venv_is_not_reinstalled_while_the_stamp_is_newer_than_pyproject(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    stamp = venv / ".graceproof-installed"
    stamp.touch()
    newer = (REPO / "pyproject.toml").stat().st_mtime + 60
    os.utime(stamp, (newer, newer))
    assert "pip install" not in _dry_run("venv", f"VENV={venv}")


def test_unit_runs_only_the_unit_tests() -> None:
    out = _dry_run("unit")
    assert re.search(r"-m pytest tests/unit\b", out)
    assert "tests/e2e" not in out
    assert "tests/cluster" not in out


def test_test_runs_unit_then_cluster_and_e2e_on_the_local_cluster() -> None:
    out = _dry_run("test")
    unit = out.index("pytest tests/unit")
    up = out.index("hack/local-cluster.sh up")
    cluster = out.index("pytest tests/cluster tests/e2e")
    assert unit < up < cluster
    assert "--gp-provider existing" in out[cluster:]


def test_lint_runs_ruff_mypy_actionlint_and_the_shell_checks() -> None:
    out = _dry_run("lint")
    for command in ("ruff check", "ruff format --check", "/mypy", "hack/actionlint.sh"):
        assert command in out
    assert 'bash -n "$f"' in out
    assert "shellcheck" in out


# The lint recipe tests the variable as `[ "$(REQUIRE_SHELLCHECK)" = 1 ]`.
def _requires_shellcheck(out: str) -> bool:
    assert '[ "0" = 1 ]' in out or '[ "1" = 1 ]' in out, out
    return '[ "1" = 1 ]' in out


def test_lint_may_skip_a_missing_shellcheck_outside_ci() -> None:
    assert not _requires_shellcheck(_dry_run("lint"))
    assert not _requires_shellcheck(_dry_run("lint", env={"CI": "false"}))


def test_lint_requires_shellcheck_in_ci_and_installs_it_with_deps() -> None:
    out = _dry_run("lint", env={"CI": "true"})
    assert _requires_shellcheck(out)
    assert "hack/local-cluster.sh deps" in out
    assert "shellcheck is missing and REQUIRE_SHELLCHECK=1" in out


def test_require_shellcheck_given_explicitly_wins_over_ci() -> None:
    assert not _requires_shellcheck(_dry_run("lint", "REQUIRE_SHELLCHECK=0", env={"CI": "true"}))
    assert _requires_shellcheck(_dry_run("lint", "REQUIRE_SHELLCHECK=1"))


def test_clean_removes_only_what_graceproof_made() -> None:
    out = _dry_run("clean", "CLUSTER_NAME=gp-test")
    assert "kind delete cluster --name 'gp-test'" in out
    assert "grep -qx 'gp-test'" in out
    assert "hack/local-cluster.sh down" in out
    assert "graceproof clean --all --kubeconfig .local-cluster/kubeconfig" in out
    assert "rm -rf -- 'reports' 'artifacts' '.venv/.graceproof-installed'" in out
    # The venv itself and the user's kubeconfig are never removed.
    assert not re.search(r"rm -rf .*'\.venv'( |$)", out, re.MULTILINE)
    assert ".kube" not in out


def _fake_tool(bin_dir: Path, name: str, exit_code: int) -> None:
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    tool.chmod(0o755)


def _choose(bin_dir: Path, requested: str = "auto") -> subprocess.CompletedProcess[str]:
    timeout_bin = shutil.which("timeout")
    assert timeout_bin is not None
    link = bin_dir / "timeout"
    if not link.exists():
        link.symlink_to(timeout_bin)
    assert BASH is not None
    # PATH holds only the fakes, so no real docker or kind on this machine is asked.
    return subprocess.run(
        [BASH, str(PROVIDER_SH), requested],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_auto_picks_kind_when_docker_answers_and_kind_is_installed(tmp_path: Path) -> None:
    _fake_tool(tmp_path, "docker", 0)
    _fake_tool(tmp_path, "kind", 0)
    proc = _choose(tmp_path)
    assert proc.stdout == "kind\n"
    assert "'docker info' works" in proc.stderr


def test_auto_picks_local_when_the_docker_daemon_does_not_answer(tmp_path: Path) -> None:
    _fake_tool(tmp_path, "docker", 1)
    _fake_tool(tmp_path, "kind", 0)
    proc = _choose(tmp_path)
    assert proc.stdout == "local\n"
    assert "'docker info' failed" in proc.stderr


def test_auto_picks_local_when_kind_is_missing(tmp_path: Path) -> None:
    _fake_tool(tmp_path, "docker", 0)
    proc = _choose(tmp_path)
    assert proc.stdout == "local\n"
    assert "kind is not on PATH" in proc.stderr


def test_an_explicit_provider_is_used_without_probing(tmp_path: Path) -> None:
    proc = _choose(tmp_path, "kind")
    assert proc.returncode == 0
    assert proc.stdout == "kind\n"
