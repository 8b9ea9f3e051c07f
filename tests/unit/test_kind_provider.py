from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from graceproof.config import KIND_NODE_IMAGES, build_options
from graceproof.errors import CommandFailedError, MissingToolError
from graceproof.providers import ExistingProvider, make_provider
from graceproof.providers.base import run_command
from graceproof.providers.kind import KindProvider

NODE_IMAGE = KIND_NODE_IMAGES["1.34"]


@pytest.fixture
def ready_calls() -> list[tuple[Path, float]]:
    return []


@pytest.fixture
def make(
    tmp_path: Path, fake_runner: Any, fake_which: Any, ready_calls: list[tuple[Path, float]]
) -> Any:
    config_file = tmp_path / "kind config.yaml"  # a space: argument lists must not care
    config_file.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: other\n")

    def make(**kw: Any) -> KindProvider:
        kw.setdefault("name", "gp-test")
        kw.setdefault("node_image", NODE_IMAGE)
        kw.setdefault("config_file", config_file)
        kw.setdefault("state_dir", tmp_path / "state")
        kw.setdefault("runner", fake_runner)
        kw.setdefault("which", fake_which("kind", "docker"))
        kw.setdefault(
            "ready_check", lambda kubeconfig, timeout: ready_calls.append((kubeconfig, timeout))
        )
        return KindProvider(**kw)

    make.config_file = config_file  # type: ignore[attr-defined]
    return make


def test_start_creates_a_named_cluster_from_the_config_with_the_pinned_image(
    make: Any, fake_runner: Any, ready_calls: list[tuple[Path, float]]
) -> None:
    provider = make()
    provider.start()
    kubeconfig = provider.kubeconfig
    assert fake_runner.calls == [
        ["kind", "get", "clusters"],
        [
            "kind",
            "create",
            "cluster",
            "--name",
            "gp-test",
            "--config",
            str(make.config_file),
            "--image",
            NODE_IMAGE,
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "120s",
        ],
    ]
    assert provider.created and provider.deletes_cluster
    assert ready_calls and ready_calls[0][0] == kubeconfig


def test_cluster_name_is_used_as_given_not_prefixed_nor_taken_from_the_config(
    make: Any, fake_runner: Any
) -> None:
    make(name="graceproof").start()
    create = fake_runner.calls[1]
    assert create[create.index("--name") + 1] == "graceproof"


def test_without_a_kind_config_the_name_and_image_are_still_passed(
    make: Any, fake_runner: Any
) -> None:
    make(config_file=None).start()
    create = fake_runner.calls[1]
    assert "--config" not in create
    assert create[create.index("--name") + 1] == "gp-test"
    assert create[create.index("--image") + 1] == NODE_IMAGE


def test_private_kubeconfig_lives_in_the_state_dir_not_in_tmp_or_home(
    make: Any, tmp_path: Path
) -> None:
    provider = make()
    assert provider.kubeconfig.parent == tmp_path / "state"
    assert provider.kubeconfig != Path.home() / ".kube" / "config"


def test_an_existing_cluster_is_reused_and_its_kubeconfig_written_privately(
    make: Any, fake_runner: Any
) -> None:
    fake_runner.answers[("kind", "get", "clusters")] = "other\ngp-test\n"
    fake_runner.answers[("kind", "get", "kubeconfig")] = "apiVersion: v1\nkind: Config\n"
    provider = make()
    provider.start()
    assert fake_runner.calls == [
        ["kind", "get", "clusters"],
        ["kind", "get", "kubeconfig", "--name", "gp-test"],
    ]
    assert provider.kubeconfig.read_text() == "apiVersion: v1\nkind: Config\n"
    assert stat.S_IMODE(provider.kubeconfig.stat().st_mode) == 0o600
    assert not provider.created


def test_stop_does_not_delete_a_reused_cluster(make: Any, fake_runner: Any) -> None:
    fake_runner.answers[("kind", "get", "clusters")] = "gp-test\n"
    provider = make()
    provider.start()
    provider.stop()
    assert not any(call[:2] == ["kind", "delete"] for call in fake_runner.calls)
    assert not provider.kubeconfig.exists()


def test_stop_deletes_a_created_cluster_with_the_private_kubeconfig(
    make: Any, fake_runner: Any
) -> None:
    provider = make()
    provider.start()
    provider.kubeconfig.write_text("x")  # what kind would have written
    provider.stop()
    assert fake_runner.calls[-1] == [
        "kind",
        "delete",
        "cluster",
        "--name",
        "gp-test",
        "--kubeconfig",
        str(provider.kubeconfig),
    ]
    assert not provider.kubeconfig.exists()
    provider.stop()  # a second stop does nothing
    assert sum(call[:2] == ["kind", "delete"] for call in fake_runner.calls) == 1


def test_keep_leaves_a_created_cluster_in_place(make: Any, fake_runner: Any) -> None:
    provider = make(keep=True)
    provider.start()
    assert not provider.deletes_cluster
    provider.stop()
    assert not any(call[:2] == ["kind", "delete"] for call in fake_runner.calls)


def test_load_image_from_docker_names_the_cluster(make: Any, fake_runner: Any) -> None:
    provider = make()
    provider.start()
    provider.load_image("graceproof/workload:0.1.0")
    assert fake_runner.calls[-1] == [
        "kind",
        "load",
        "docker-image",
        "graceproof/workload:0.1.0",
        "--name",
        "gp-test",
    ]


def test_load_image_from_an_archive_names_the_cluster(
    make: Any, fake_runner: Any, tmp_path: Path
) -> None:
    provider = make()
    provider.start()
    provider.load_image("graceproof/workload:0.1.0", tmp_path / "img.tar")
    assert fake_runner.calls[-1] == [
        "kind",
        "load",
        "image-archive",
        str(tmp_path / "img.tar"),
        "--name",
        "gp-test",
    ]


@pytest.mark.parametrize(("present", "missing"), [(("docker",), "kind"), (("kind",), "docker")])
def test_missing_tool_is_named_with_how_to_install_it(
    make: Any, fake_runner: Any, fake_which: Any, present: tuple[str, ...], missing: str
) -> None:
    with pytest.raises(MissingToolError) as info:
        make(which=fake_which(*present)).start()
    assert info.value.tool == missing
    assert f"'{missing}' was not found on PATH" in str(info.value)
    assert "install" in str(info.value).lower()
    assert fake_runner.calls == []


def test_context_manager_deletes_a_cluster_whose_start_failed_half_way(
    make: Any, fake_runner: Any
) -> None:
    def not_ready(kubeconfig: Path, timeout: float) -> None:
        raise TimeoutError("API server never answered")

    with pytest.raises(TimeoutError, match="never answered"), make(ready_check=not_ready):
        pytest.fail("the body must not run")
    assert fake_runner.calls[-1][:3] == ["kind", "delete", "cluster"]


def test_context_manager_deletes_after_a_failed_create(make: Any, fake_runner: Any) -> None:
    fake_runner.fail_on[("kind", "create")] = CommandFailedError(["kind", "create"], 1, "boom")
    with pytest.raises(CommandFailedError, match="boom"), make():
        pass
    assert fake_runner.calls[-1][:3] == ["kind", "delete", "cluster"]


def test_context_manager_stops_on_exit(make: Any, fake_runner: Any) -> None:
    with make() as provider:
        assert provider.created
    assert fake_runner.calls[-1][:3] == ["kind", "delete", "cluster"]


# The real command runner, with harmless local programs -----------------------------------
def test_run_command_passes_arguments_unchanged_without_a_shell() -> None:
    tricky = 'it\'s a "quoted" $HOME; `echo no`'
    out = run_command([sys.executable, "-c", "import sys; print(sys.argv[1])", tricky], 30)
    assert out == tricky + "\n"


def test_run_command_leaves_our_environment_alone() -> None:
    before = dict(os.environ)
    run_command([sys.executable, "-c", "import os; os.environ['X_GP']='1'"], 30)
    assert dict(os.environ) == before


def test_run_command_failure_carries_the_exit_status_and_stderr() -> None:
    with pytest.raises(CommandFailedError) as info:
        run_command([sys.executable, "-c", "import sys; sys.exit('no cluster here')"], 30)
    assert info.value.returncode == 1
    assert "no cluster here" in str(info.value)


def test_run_command_timeout_is_an_error_not_a_hang() -> None:
    with pytest.raises(CommandFailedError, match="timed out"):
        run_command([sys.executable, "-c", "import time; time.sleep(5)"], 0.3)


def test_run_command_with_a_missing_program_names_it() -> None:
    with pytest.raises(MissingToolError, match="graceproof-no-such-tool"):
        run_command(["graceproof-no-such-tool", "x"], 5)


def test_make_provider_builds_kind_from_the_options_and_the_repos_kind_config(
    tmp_path: Path,
) -> None:
    (tmp_path / "kind-config.yaml").write_text("kind: Cluster\n")
    options = build_options(
        {"gp_cluster_name": "gp-x", "gp_k8s_version": "1.32", "gp_keep_cluster": True},
        {},
        cwd=tmp_path,
    )
    provider = make_provider(options, tmp_path / "state", root=tmp_path)
    assert isinstance(provider, KindProvider)
    assert (provider.name, provider.keep) == ("gp-x", True)
    assert provider.node_image == KIND_NODE_IMAGES["1.32"]
    assert provider.config_file == tmp_path / "kind-config.yaml"


def test_make_provider_builds_existing_from_the_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("apiVersion: v1\n")
    options = build_options(
        {"gp_provider": "existing", "gp_kubeconfig": str(kubeconfig)}, {}, cwd=tmp_path
    )
    provider = make_provider(options, tmp_path / "state")
    assert isinstance(provider, ExistingProvider)
    assert provider.source_kubeconfig == kubeconfig
