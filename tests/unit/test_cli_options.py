"""`graceproof prove` and `clean` build their Options as the plugin does (build_options)
and get their cluster from the same registry; what differs is their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from graceproof.cli_options import existing_options, kind_options
from graceproof.errors import OptionError
from graceproof.providers.kind_release import KIND_NODE_IMAGES

KIND = {"cluster_name": None, "k8s_version": None, "node_image": None, "keep_cluster": False}


def test_kind_defaults_are_kinds_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRACEPROOF_NODE_IMAGE", raising=False)
    options = kind_options(**KIND, run_id=None)
    assert (options.provider, options.cluster_name, options.k8s_version) == (
        "kind",
        "graceproof",
        "1.34",
    )
    assert options.node_image == KIND_NODE_IMAGES["1.34"]


def test_the_plugins_variables_do_not_reach_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # make sets these for the test suite; a `graceproof prove --kind` inside it is the
    # command's own run.
    monkeypatch.setenv("GRACEPROOF_KUBECONFIG", "/nowhere")
    monkeypatch.setenv("GRACEPROOF_CLUSTER_NAME", "from-env")
    monkeypatch.setenv("GRACEPROOF_RUN_ID", "from-env")
    options = kind_options(**KIND, run_id=None)
    assert options.cluster_name == "graceproof" and options.run_id != "from-env"


def test_messages_name_the_commands_flags() -> None:
    with pytest.raises(OptionError, match=r"^--k8s-version '1\.20' is not supported"):
        kind_options(**{**KIND, "k8s_version": "1.20"}, run_id=None)
    with pytest.raises(OptionError, match=r"^--run-id 'Bad_Id' must be a DNS-1123 label"):
        kind_options(**KIND, run_id="Bad_Id")


def test_an_existing_cluster_keeps_the_files_and_context_kubectl_found(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("apiVersion: v1\n")
    options = existing_options(kubeconfig, "ctx", run_id="r1")
    assert (options.provider, options.kubeconfig, options.run_id) == ("existing", kubeconfig, "r1")
    assert options.kubeconfig_source is not None
    assert options.kubeconfig_source.files == (kubeconfig,)
    assert options.kubeconfig_source.context == "ctx"


def test_no_kubeconfig_anywhere_is_the_message_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(OptionError, match=r"^no cluster here$"):
        existing_options(None, None, no_cluster="no cluster here")
