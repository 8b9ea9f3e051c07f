"""The GitHub Actions workflows: least privilege, bounded, pinned, and the e2e matrix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.config import KIND_NODE_IMAGES, KIND_RELEASE

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
E2E = WORKFLOWS / "e2e.yml"
ALL = [CI, E2E]
NODE_IMAGE = re.compile(r"^kindest/node:v(?P<minor>\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}$")


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def _triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean true.
    on = doc.get("on", doc.get(True))
    assert isinstance(on, dict)
    return on


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def _e2e_job() -> dict[str, Any]:
    job = _load(E2E)["jobs"]["e2e"]
    assert isinstance(job, dict)
    return job


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_workflow_grants_only_read_access_to_the_contents(path: Path) -> None:
    doc = _load(path)
    assert doc["permissions"] == {"contents": "read"}
    for job in doc["jobs"].values():
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path) -> None:
    for name, job in _load(path)["jobs"].items():
        minutes = job.get("timeout-minutes")
        assert isinstance(minutes, int), name
        assert 0 < minutes <= 60, name


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_a_newer_run_on_the_same_ref_cancels_the_older_one(path: Path) -> None:
    concurrency = _load(path)["concurrency"]
    assert "github.ref" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is True


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    uses = [step["uses"] for step in _steps(_load(path)) if "uses" in step]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_checkout_does_not_keep_the_token(path: Path) -> None:
    for step in _steps(_load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_ci_runs_on_push_and_pull_request() -> None:
    on = _triggers(_load(CI))
    assert "push" in on
    assert "pull_request" in on


def test_ci_lints_and_runs_the_unit_tests_on_python_311_with_a_pip_cache() -> None:
    doc = _load(CI)
    runs = [step.get("run", "") for step in _steps(doc)]
    assert any(r.startswith("make lint") for r in runs)
    assert "make unit" in runs
    pythons = [s for s in _steps(doc) if s.get("uses", "").startswith("actions/setup-python@")]
    assert pythons
    for step in pythons:
        assert step["with"]["python-version"] == "3.11"
        assert step["with"]["cache"] == "pip"


def test_e2e_runs_on_main_pull_requests_and_by_hand() -> None:
    on = _triggers(_load(E2E))
    assert on["push"]["branches"] == ["main"]
    assert "pull_request" in on
    assert "workflow_dispatch" in on


def test_e2e_matrix_covers_at_least_three_minors_without_failing_fast() -> None:
    strategy = _e2e_job()["strategy"]
    assert strategy["fail-fast"] is False
    minors = {entry["k8s"] for entry in strategy["matrix"]["include"]}
    assert len(minors) >= 3
    assert {"1.34", "1.35", "1.36", "1.37"} <= minors


def test_every_node_image_is_pinned_by_digest_and_matches_its_minor() -> None:
    for entry in _e2e_job()["strategy"]["matrix"]["include"]:
        match = NODE_IMAGE.match(entry["node-image"])
        assert match, entry
        assert match["minor"] == entry["k8s"], entry


def test_no_node_image_appears_anywhere_without_a_digest() -> None:
    text = E2E.read_text()
    refs = re.findall(r"kindest/node:\S+", text)
    assert refs
    assert all("@sha256:" in ref for ref in refs), refs


def test_kind_is_pinned_and_checked_against_its_checksum() -> None:
    doc = _load(E2E)
    assert re.fullmatch(r"v\d+\.\d+\.\d+", doc["env"]["KIND_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", doc["env"]["KIND_SHA256"])
    install = next(s for s in _steps(doc) if s.get("name", "").startswith("Install kind"))
    assert "$KIND_VERSION" in install["run"]
    assert "sha256sum --check" in install["run"]


def test_the_matrix_uses_the_kind_release_and_images_the_plugin_pins() -> None:
    # The workflow installs kind and pulls the image; the plugin creates the cluster
    # from its own table: a drift between the two would test an unpulled image.
    assert _load(E2E)["env"]["KIND_VERSION"] == KIND_RELEASE
    for entry in _e2e_job()["strategy"]["matrix"]["include"]:
        assert entry["node-image"] == KIND_NODE_IMAGES[entry["k8s"]], entry


def test_e2e_runs_make_e2e_on_kind_for_the_matrix_version() -> None:
    runs = [step.get("run", "") for step in _steps(_load(E2E))]
    assert "make e2e PROVIDER=kind K8S_VERSION=${{ matrix.k8s }}" in runs
    assert 'docker pull "${{ matrix.node-image }}"' in runs


def test_e2e_always_uploads_reports_and_artifacts() -> None:
    steps = _steps(_load(E2E))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert "reports/" in paths
    assert "artifacts/" in paths
    assert "${{ matrix.k8s }}" in upload["with"]["name"]


def test_e2e_always_appends_the_summary_to_the_job_summary() -> None:
    steps = _steps(_load(E2E))
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"] == "always()"
    assert "cat reports/summary.md" in summary["run"]
