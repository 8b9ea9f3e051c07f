"""graceproof as a user gets it: the wheel, installed into a fresh virtualenv outside
the repository, runs its CLI, finds its locustfile, kind-config.yaml and sample
workload in its own package data, and proves a workload through its pytest plugin
on the outer session's cluster.

Slow: building the wheel and installing it with its dependencies took 41 s, the
proof 48 s more (measured on the local cluster); the module's fixture does the
install once for all its tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
# Not copied into the build tree: state, caches and outputs of the checkout.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".local-cluster",
    "build",
    "dist",
    "reports",
    "artifacts",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
)
# As tests/conftest.py's inner runs: no Locust plugin (gevent), no cache files.
INNER_BASE_ARGS = ("-p", "no:locust", "-p", "no:cacheprovider")
BUILD_TIMEOUT = 300.0
INSTALL_TIMEOUT = 600.0  # with the dependencies from the package index: 35 s measured
PROOF_TIMEOUT = 600.0


def _run(
    argv: Sequence[str | Path], cwd: Path, timeout: float, extra_env: Mapping[str, str] = {}
) -> str:
    """Run argv with an environment free of GRACEPROOF_*, PYTHONPATH and the outer venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GRACEPROOF_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env.update(extra_env)
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-8000:]}\n--- stderr\n{proc.stderr[-8000:]}"
    )
    return proc.stdout


class Installed:
    """A virtualenv outside the repository with graceproof installed from its wheel."""

    def __init__(self, venv: Path, work: Path, wheel: Path) -> None:
        self.venv = venv
        self.work = work  # a cwd outside the repository
        self.wheel = wheel
        self.python = venv / "bin" / "python"
        self.graceproof = venv / "bin" / "graceproof"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.is_relative_to(ROOT), base
    # setuptools builds in the source tree and keeps build/ there, whose stale files
    # would end up in later wheels: build from a copy instead.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES, symlinks=True)
    dist = base / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, source],
        base,
        BUILD_TIMEOUT,
    )
    (wheel,) = dist.glob("graceproof-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", venv], base, BUILD_TIMEOUT)
    _run([venv / "bin" / "python", "-m", "pip", "install", wheel], base, INSTALL_TIMEOUT)
    work = base / "work"
    work.mkdir()
    yield Installed(venv, work, wheel)
    # About 400 MB; the wheel, the reports and the artifacts stay with pytest's tmp.
    shutil.rmtree(venv, ignore_errors=True)


def test_the_installed_cli_answers_outside_the_checkout(installed: Installed) -> None:
    out = _run([installed.graceproof, "--version"], installed.work, 60)
    assert out.strip() == "graceproof 0.1.0"


def test_the_installed_package_finds_its_data_in_site_packages(installed: Installed) -> None:
    script = textwrap.dedent(
        """
        import json
        import graceproof, graceproof.paths as p
        from graceproof.config import find_repo_file
        from graceproof.load import default_locustfile
        print(json.dumps({
            "package": graceproof.__file__,
            "checkout": str(p.checkout_root()),
            "locustfile": str(default_locustfile()),
            "kind_config": str(find_repo_file("kind-config.yaml", None)),
            "server": str(p.sample_app_dir() / "server.py"),
            "dockerfile": str(p.dockerfile()),
            "manifests": sorted(str(m) for m in p.manifests_dir().glob("*.yaml")),
        }))
        """
    )
    found: dict[str, Any] = json.loads(_run([installed.python, "-c", script], installed.work, 60))
    site = Path(found.pop("package")).parent
    assert site.is_relative_to(installed.venv), site
    assert found.pop("checkout") == "None"
    manifests = [Path(m) for m in found.pop("manifests")]
    assert len(manifests) >= 4
    for name, value in [*found.items(), *(("manifest", m) for m in manifests)]:
        path = Path(value)
        assert path.is_file(), (name, path)
        assert path.is_relative_to(site / "_data"), (name, path)
        assert not path.is_relative_to(ROOT), (name, path)


INNER_TEST = """
import os
from pathlib import Path

import graceproof
from graceproof.hooks import SleepHook
from graceproof.load import default_locustfile
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp


def test_prestop_sleep_keeps_every_request(prove):
    installed = Path(graceproof.__file__).parent
    assert default_locustfile().is_relative_to(installed)
    node_port = int(os.environ["WHEEL_TEST_NODE_PORT"])
    result = prove(Scenario(SampleApp(SleepHook(5), node_port=node_port)))
    assert result.verdict.passed, result.verdict.message
"""


# A proof under load: it also runs when the e2e tests are selected by marker.
@pytest.mark.e2e
def test_the_installed_plugin_proves_a_workload(
    installed: Installed,
    cluster: Any,
    workload_image: str,
    fresh_run_id: str,
    free_node_port: int,
) -> None:
    work = installed.work / "plugin"
    work.mkdir()
    (work / "test_installed.py").write_text(INNER_TEST, encoding="utf-8")
    # Every path argument outside the checkout: pytest looks for its configuration
    # (pyproject.toml) upwards from the paths it is given, option values included.
    kubeconfig = work / "kubeconfig"
    shutil.copyfile(cluster.kubeconfig, kubeconfig)
    reports = work / "reports"
    _run(
        [
            installed.python,
            "-m",
            "pytest",
            *INNER_BASE_ARGS,
            "-q",
            "--rootdir",
            work,
            "test_installed.py",
            "--gp-provider",
            "existing",
            "--gp-kubeconfig",
            kubeconfig,
            "--gp-image",
            workload_image,
            "--gp-run-id",
            fresh_run_id,
            "--gp-report-dir",
            reports,
            "--gp-artifacts",
            work / "artifacts",
        ],
        work,
        PROOF_TIMEOUT,
        {"WHEEL_TEST_NODE_PORT": str(free_node_port)},
    )
    results = [json.loads(p.read_text()) for p in reports.glob("*.json")]
    assert len(results) == 1, sorted(p.name for p in reports.iterdir())
    assert results[0]["verdict"]["passed"] is True, results[0]["verdict"]
    assert (reports / "summary.md").is_file()


def _two_contexts(cluster_kubeconfig: Path, path: Path) -> Path:
    """The cluster's kubeconfig as context `local`, beside a current context `elsewhere`
    whose API server nobody serves: only --context reaches the cluster."""
    doc = yaml.safe_load(cluster_kubeconfig.read_text())
    (context,) = [c for c in doc["contexts"] if c["name"] == doc["current-context"]]
    doc["contexts"] = [
        {"name": "local", "context": context["context"]},
        {"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "elsewhere"}},
    ]
    doc["clusters"].append({"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:9"}})
    doc["users"].append({"name": "elsewhere", "user": {"token": "none"}})
    doc["current-context"] = "elsewhere"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_installed_cli_proves_the_nginx_chart_with_its_control(
    installed: Installed,
    cluster: Any,
    free_node_port: int,
    nginx_image_args: list[str],
    helm: str,
) -> None:
    """A team's Helm chart, from a folder outside the checkout, through the installed
    CLI as kubectl users call it: the cluster from $KUBECONFIG alone and --context, the
    verdict as JSON (-o json). The control (hooks removed) loses requests, the hooked
    chart none."""
    chart = shutil.copytree(ROOT / "examples" / "nginx" / "chart", installed.work / "chart")
    kubeconfig = _two_contexts(cluster.kubeconfig, installed.work / "cli.kubeconfig")
    before = kubeconfig.read_text()
    reports = installed.work / "cli-reports"
    out = _run(
        [installed.graceproof, "prove", "--chart", chart, "--context", "local", "-o", "json",
         *nginx_image_args, "--report-dir", reports,
         "--node-port", str(free_node_port)],
        installed.work,
        PROOF_TIMEOUT,
        {"GRACEPROOF_HELM": helm, "KUBECONFIG": str(kubeconfig), "HOME": str(installed.work)},
    )  # fmt: skip
    print(out)
    verdict = json.loads(out)  # stdout is the JSON document alone
    assert verdict["proven"] is True and verdict["verdict"] == "PROVEN"
    assert verdict["hooked"]["counts"]["failed"] == 0
    assert verdict["hooked"]["counts"]["in_windows"] > 0
    assert verdict["control"]["counts"]["failed_in_windows"] > 0
    assert verdict["control_statement"].endswith("the hook is what keeps them")
    assert Path(verdict["report"]) == reports / "summary.md"
    assert kubeconfig.read_text() == before  # read, never written
    results = [json.loads(p.read_text()) for p in sorted(reports.glob("*.json"))]
    assert sorted(r["variant"] for r in results) == [
        "helm-deployment-web",
        "helm-deployment-web-no-hook",
    ]
