"""The plugin as pytest sees it, through inner pytest runs (pytester, in-process)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from graceproof.config import OPTION_SPECS

USAGE_ERROR = pytest.ExitCode.USAGE_ERROR


def test_all_options_are_in_one_graceproof_group(run_inner: Any) -> None:
    result = run_inner("--help")
    assert result.ret == 0
    text = result.stdout.str()
    start = text.index("graceproof: termination proofs on Kubernetes:")
    group = text[start:].split("\n\n", 1)[0]
    for spec in OPTION_SPECS:
        assert spec.flag in group, spec.flag
        assert spec.env in " ".join(group.split()), spec.env
    assert len(OPTION_SPECS) == 14


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--gp-provider", "existing"], {}, "--gp-provider existing needs --gp-kubeconfig"),
        (["--gp-k8s-version", "1.20"], {}, "--gp-k8s-version '1.20' is not supported"),
        (
            [],
            {"GRACEPROOF_KEEP_FAILED": "maybe"},
            "GRACEPROOF_KEEP_FAILED='maybe' is not a boolean",
        ),
        (
            [],
            {"GRACEPROOF_PROVIDER": "k3d"},
            "unknown cluster provider (--gp-provider) 'k3d'; known: kind, existing",
        ),
        (["--gp-cluster-name", "Bad_Name"], {}, "--gp-cluster-name 'Bad_Name' is not a DNS-1123"),
    ],
)
def test_invalid_options_are_usage_errors_with_a_clear_message(
    run_inner: Any,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run_inner(*args)
    assert result.ret == USAGE_ERROR
    assert f"graceproof: {message}" in result.stderr.str()


def test_existing_provider_conflicts_are_usage_errors(
    run_inner: Any, pytester: pytest.Pytester
) -> None:
    kubeconfig = pytester.path / "kc"
    kubeconfig.write_text("apiVersion: v1\n")
    base = ["--gp-provider", "existing", "--gp-kubeconfig", str(kubeconfig)]
    for extra, message in (
        (["--gp-keep-cluster"], "--gp-keep-cluster applies to kind only"),
        (["--gp-k8s-version", "1.33"], "--gp-k8s-version applies to kind only"),
        (["--gp-node-image", "n/node:v1"], "--gp-node-image applies to kind only"),
    ):
        result = run_inner(*base, *extra)
        assert result.ret == USAGE_ERROR
        assert message in result.stderr.str()


def test_options_fixture_follows_cli_over_environment(
    run_inner: Any, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRACEPROOF_CLUSTER_NAME", "from-env")
    monkeypatch.setenv("GRACEPROOF_RUN_ID", "envrun")
    monkeypatch.setenv("GRACEPROOF_KEEP_FAILED", "yes")
    pytester.makepyfile(
        """
        def test_options(graceproof_options):
            assert graceproof_options.cluster_name == "from-cli"
            assert graceproof_options.run_id == "envrun"
            assert graceproof_options.keep_failed is True
            assert graceproof_options.provider == "kind"
        """
    )
    result = run_inner("--gp-cluster-name", "from-cli")
    result.assert_outcomes(passed=1)


def test_cluster_and_e2e_markers_are_registered(run_inner: Any, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.cluster
        @pytest.mark.e2e
        def test_marked():
            pass
        """
    )
    run_inner("--strict-markers").assert_outcomes(passed=1)
    markers = run_inner("--markers").stdout.str()
    assert "@pytest.mark.cluster:" in markers and "@pytest.mark.e2e:" in markers


def test_tests_without_cluster_fixtures_start_nothing(
    run_inner: Any, pytester: pytest.Pytester
) -> None:
    # kind is not installed here: a provider started by accident would fail the run.
    pytester.makepyfile("def test_plain():\n    assert True\n")
    run_inner().assert_outcomes(passed=1)
    assert not (pytester.path / "artifacts").exists()


def test_cluster_fixture_reports_a_missing_tool_once_per_session(
    run_inner: Any, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = pytester.mkdir("empty-path")
    monkeypatch.setenv("PATH", str(empty))
    pytester.makepyfile(
        """
        def test_one(cluster):
            pass

        def test_two(cluster):
            pass
        """
    )
    result = run_inner()
    result.assert_outcomes(errors=2)
    text = result.stdout.str()
    assert "MissingToolError: 'docker' was not found on PATH" in text
    assert "install Docker" in text


def test_failed_test_gets_its_timeline_in_the_report_and_the_artifacts(
    run_inner: Any, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        test_timeline="""
        from graceproof.model import TimelineEvent

        def test_fails(timeline_sink):
            timeline_sink.append(
                TimelineEvent(t=100.0, kind="pod_deleted", pod="web-1", detail={"by": "test"})
            )
            timeline_sink.append(TimelineEvent(t=101.5, kind="pod_gone", pod="web-1"))
            assert False, "boom"

        def test_passes(timeline_sink):
            timeline_sink.append(TimelineEvent(t=1.0, kind="pod_created", pod="web-2"))
        """
    )
    result = run_inner("--gp-run-id", "unit1", "--gp-artifacts", "art")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    assert re.search(r"-+ graceproof: timeline -+", text)
    assert re.search(r"\+\s*0\.000s \S+ pod_deleted\s+web-1 by=test", text)
    assert re.search(r"\+\s*1\.500s \S+ pod_gone\s+web-1", text)
    assert "graceproof diagnostics of failed tests" in text

    run_dir = pytester.path / "art" / "unit1"
    dirs = [d for d in run_dir.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert [d.name for d in dirs] == ["test_timeline.py_test_fails"]
    events = json.loads((dirs[0] / "timeline.json").read_text())
    assert [e["kind"] for e in events] == ["pod_deleted", "pod_gone"]
    assert (dirs[0] / "test-id.txt").read_text().strip() == "test_timeline.py::test_fails"
    assert str(dirs[0]) in text


def test_artifacts_dir_fixture_is_per_run(run_inner: Any, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_dir(artifacts_dir, graceproof_options):
            assert artifacts_dir == graceproof_options.artifacts / "r7"
            assert artifacts_dir.is_dir()
        """
    )
    run_inner("--gp-run-id", "r7").assert_outcomes(passed=1)
    assert (Path(pytester.path) / "artifacts" / "r7").is_dir()


def test_unit_tests_cannot_reach_a_cluster_by_accident() -> None:
    # The autouse guard of tests/conftest.py: any API call in tests/unit fails loudly.
    api = kubernetes.client.ApiClient()
    with pytest.raises(AssertionError, match="Must not be called"):
        kubernetes.client.VersionApi(api).get_code()


def test_a_machine_kind_cannot_use_fails_each_test_with_the_cause_and_no_traceback(
    run_inner: Any, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A docker on PATH whose daemon does not answer, as `docker info` says it then.
    bin_dir = pytester.path / "bin"
    bin_dir.mkdir()
    for tool, script in (
        ("docker", "echo 'Cannot connect to the Docker daemon at unix:///x.sock.' >&2; exit 1"),
        ("kind", "echo 'kind v0.33.0 go1.26.8 linux/amd64'"),
    ):
        (bin_dir / tool).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    pytester.makepyfile(test_it="def test_a(cluster):\n    pass\n")
    result = run_inner("--gp-provider", "kind")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "graceproof: no Docker engine answers ('docker info': Cannot connect" in out
    assert "hack/docker.sh up" in out
    assert "Traceback" not in out and "kind_checks.py" not in out
