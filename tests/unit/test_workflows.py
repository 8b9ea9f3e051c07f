"""The GitHub Actions workflows: least privilege, bounded, pinned, and the e2e matrix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.providers.kind_release import KIND_NODE_IMAGES, KIND_RELEASE

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


def test_ci_runs_once_per_change_on_main_pull_requests_and_by_hand() -> None:
    # A push to a pull request's branch would also run as `push`: twice per change.
    on = _triggers(_load(CI))
    assert on["push"] == {"branches": ["main"]}
    assert "pull_request" in on
    assert "workflow_dispatch" in on


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


def test_e2e_matrix_covers_every_pinned_minor_without_failing_fast() -> None:
    # What action.yml and the CLI offer (KIND_NODE_IMAGES) is what CI proves.
    strategy = _e2e_job()["strategy"]
    assert strategy["fail-fast"] is False
    minors = [entry["k8s"] for entry in strategy["matrix"]["include"]]
    assert sorted(minors) == sorted(KIND_NODE_IMAGES)


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


def test_kind_is_pinned_per_arch_and_checked_against_its_checksum() -> None:
    doc = _load(E2E)
    assert re.fullmatch(r"v\d+\.\d+\.\d+", doc["env"]["KIND_VERSION"])
    for arch in ("AMD64", "ARM64"):
        assert re.fullmatch(r"[0-9a-f]{64}", doc["env"][f"KIND_SHA256_{arch}"]), arch
    install = next(s for s in _steps(doc) if s.get("name", "").startswith("Install kind"))
    assert install["run"].startswith("hack/install-kind.sh ")
    script = (WORKFLOWS.parents[1] / "hack" / "install-kind.sh").read_text()
    assert "$KIND_VERSION" in script
    assert "sha256sum --check" in script


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


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_step_copies_summary_md_into_the_job_summary(path: Path) -> None:
    # graceproof appends it itself (report.markdown.write_summary): a copy would show
    # the table twice, with the relative picture links that break on the job page.
    for step in _steps(_load(path)):
        assert not re.search(r"summary\.md\S*\s*>>", step.get("run", "")), step


def test_e2e_links_the_uploaded_artifact_in_the_job_summary_after_the_upload() -> None:
    steps = _steps(_load(E2E))
    names = [s.get("name") for s in steps]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert names.index(summary["name"]) > names.index(upload["name"])
    assert summary["if"] == "always()"
    assert summary["env"]["ARTIFACT_URL"] == f"${{{{ steps.{upload['id']}.outputs.artifact-url }}}}"
    assert "($ARTIFACT_URL)" in summary["run"]
    assert "No reports/summary.md was written" in summary["run"]
    assert "${{" not in summary["run"]
