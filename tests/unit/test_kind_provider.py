from __future__ import annotations

import os
import re
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from graceproof.config import build_options
from graceproof.errors import CommandFailedError, KindSetupError, MissingToolError
from graceproof.providers import ExistingProvider, make_provider
from graceproof.providers.base import run_command
from graceproof.providers.kind import KindProvider
from graceproof.providers.kind_checks import missing_capabilities
from graceproof.providers.kind_release import KIND_NODE_IMAGES, KIND_RELEASE

NODE_IMAGE = KIND_NODE_IMAGES["1.34"]


def kind_calls(runner: Any) -> list[list[str]]:
    """The calls that act on clusters: not the checks of docker and kind's version."""
    return [c for c in runner.calls if c[0] == "kind" and c[1] != "version"]


@pytest.fixture(autouse=True)
def a_machine_kind_can_run_on(fake_runner: Any) -> None:
    fake_runner.answers[("docker", "info")] = "20.10.24\n"
    fake_runner.answers[("kind", "version")] = f"kind {KIND_RELEASE} go1.26.8 linux/amd64\n"
    fake_runner.answers[("docker", "inspect")] = f"{NODE_IMAGE}\n"  # a reused cluster's node


@pytest.fixture
def ready_calls() -> list[tuple[Path, float, int]]:
    return []


@pytest.fixture
def make(
    tmp_path: Path, fake_runner: Any, fake_which: Any, ready_calls: list[tuple[Path, float, int]]
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
            "ready_check",
            lambda kubeconfig, timeout, nodes: ready_calls.append((kubeconfig, timeout, nodes)),
        )
        return KindProvider(**kw)

    make.config_file = config_file  # type: ignore[attr-defined]
    return make


def test_start_creates_a_named_cluster_from_the_config_with_the_pinned_image(
    make: Any, fake_runner: Any, ready_calls: list[tuple[Path, float, int]]
) -> None:
    provider = make()
    provider.start()
    kubeconfig = provider.kubeconfig
    assert kind_calls(fake_runner) == [
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


def test_readiness_waits_for_every_node_the_kind_config_names(
    make: Any, tmp_path: Path, ready_calls: list[tuple[Path, float, int]]
) -> None:
    config = tmp_path / "three.yaml"
    config.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
        "nodes:\n- role: control-plane\n- role: worker\n- role: worker\n"
    )
    make(config_file=config).start()
    make(config_file=None).start()
    assert [nodes for _, _, nodes in ready_calls] == [3, 1]


def test_cluster_name_is_used_as_given_not_prefixed_nor_taken_from_the_config(
    make: Any, fake_runner: Any
) -> None:
    make(name="graceproof").start()
    create = kind_calls(fake_runner)[1]
    assert create[create.index("--name") + 1] == "graceproof"


def test_without_a_kind_config_the_name_and_image_are_still_passed(
    make: Any, fake_runner: Any
) -> None:
    make(config_file=None).start()
    create = kind_calls(fake_runner)[1]
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
    fake_runner.answers[("docker", "inspect")] = NODE_IMAGE
    provider = make()
    provider.start()
    assert kind_calls(fake_runner) == [
        ["kind", "get", "clusters"],
        ["kind", "get", "kubeconfig", "--name", "gp-test"],
    ]
    assert provider.kubeconfig.read_text() == "apiVersion: v1\nkind: Config\n"
    assert stat.S_IMODE(provider.kubeconfig.stat().st_mode) == 0o600
    assert not provider.created


def test_an_existing_cluster_of_another_node_image_is_refused_not_reused(
    make: Any, fake_runner: Any
) -> None:
    fake_runner.answers[("kind", "get", "clusters")] = "gp-test\n"
    fake_runner.answers[("docker", "inspect")] = "kindest/node:v1.30.0\n"
    with pytest.raises(KindSetupError) as info:
        make().start()
    assert "runs kindest/node:v1.30.0, not the node image asked for" in str(info.value)
    assert "kind delete cluster --name gp-test" in str(info.value)
    assert not any(c[1] in ("create", "delete") for c in kind_calls(fake_runner))


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
    def not_ready(kubeconfig: Path, timeout: float, nodes: int) -> None:
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


# What kind needs from the machine, checked before anything is created ----------------
def test_no_docker_engine_is_named_with_the_fix(make: Any, fake_runner: Any) -> None:
    fake_runner.fail_on[("docker", "info")] = CommandFailedError(
        ["docker", "info"], 1, "Cannot connect to the Docker daemon at unix:///x.sock"
    )
    with pytest.raises(KindSetupError) as info:
        make().start()
    message = str(info.value)
    assert "no Docker engine answers" in message and "Cannot connect" in message
    assert "hack/docker.sh up" in message and "--gp-provider existing" in message
    assert kind_calls(fake_runner) == []  # nothing created


def test_kind_of_another_release_is_refused_naming_both(make: Any, fake_runner: Any) -> None:
    fake_runner.answers[("kind", "version")] = "kind v0.20.0 go1.21 linux/amd64\n"
    with pytest.raises(KindSetupError) as info:
        make().start()
    assert "kind v0.20.0 is on PATH" in str(info.value)
    assert f"go install sigs.k8s.io/kind@{KIND_RELEASE}" in str(info.value)
    assert kind_calls(fake_runner) == []


def test_kind_of_another_release_goes_with_a_node_image_of_ones_own(
    make: Any, fake_runner: Any
) -> None:
    fake_runner.answers[("kind", "version")] = "kind v0.20.0 go1.21 linux/amd64\n"
    make(node_image="me/node:v1", node_image_given=True).start()
    create = kind_calls(fake_runner)[1]
    assert create[create.index("--image") + 1] == "me/node:v1"


def test_a_taken_port_of_the_kind_config_is_named_before_creating(
    make: Any, fake_runner: Any, tmp_path: Path
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.2", 0))
        free_port = free.getsockname()[1]  # released: free again for the check
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = tmp_path / "kind-config.yaml"
        config.write_text(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n"
            "  extraPortMappings:\n"
            f"  - {{containerPort: 1, hostPort: {free_port}, listenAddress: 127.0.0.2}}\n"
            f"  - {{containerPort: {port}, hostPort: {port}, listenAddress: 127.0.0.1}}\n"
        )
        with pytest.raises(KindSetupError) as info:
            make(config_file=config).start()
    message = str(info.value)
    assert f"{config}: nodes[0].extraPortMappings[1]" in message
    assert f"TCP port 127.0.0.1:{port}" in message and "hack/local-cluster.sh down" in message
    assert not any(c[1] == "create" for c in kind_calls(fake_runner))


def test_a_port_left_in_time_wait_by_an_earlier_cluster_is_not_taken(
    make: Any, fake_runner: Any, tmp_path: Path
) -> None:
    # docker-proxy's side closes first when a pod closes: its port stays in TIME-WAIT.
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server closes first: TIME-WAIT on 127.0.0.1:port
        client.close()
    config = tmp_path / "kind-config.yaml"
    config.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n"
        f"  extraPortMappings:\n  - {{containerPort: {port}, hostPort: {port}, "
        "listenAddress: 127.0.0.1}\n"
    )
    make(config_file=config).start()
    assert any(c[1] == "create" for c in kind_calls(fake_runner))


def test_a_docker_that_refuses_privileged_containers_names_the_capability(
    make: Any, fake_runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_runner.fail_on[("kind", "create")] = CommandFailedError(
        ["kind", "create"], 1, "docker: Error response from daemon: OCI runtime create failed: "
        "unable to apply caps: operation not permitted: unknown.",
    )  # fmt: skip
    monkeypatch.setattr(
        "graceproof.providers.kind_checks.missing_capabilities", lambda: ["CAP_SYS_RESOURCE"]
    )
    with pytest.raises(KindSetupError) as info, make():
        pass
    assert "lacks CAP_SYS_RESOURCE" in str(info.value) and "privileged" in str(info.value)
    assert kind_calls(fake_runner)[-1][:3] == ["kind", "delete", "cluster"]  # cleaned up


def test_a_node_image_neither_here_nor_pullable_names_the_build_and_the_option(
    make: Any, fake_runner: Any
) -> None:
    fake_runner.fail_on[("docker", "image", "inspect")] = CommandFailedError(["d"], 1, "No such")
    fake_runner.fail_on[("kind", "create")] = CommandFailedError(
        ["kind", "create"], 1, 'ERROR: failed to create cluster: failed to pull image "x"'
    )
    with pytest.raises(KindSetupError) as info:
        make().start()
    assert f"node image {NODE_IMAGE} is not in Docker" in str(info.value)
    assert "hack/kind-node-image.sh" in str(info.value) and "--gp-node-image" in str(info.value)


def test_the_capability_names_agree_with_the_runtime_wrappers() -> None:
    # Two tables of linux/capability.h: the provider's message and hack/runc_caps.py.
    from graceproof.providers import kind_checks

    text = (Path(__file__).resolve().parents[2] / "hack" / "runc_caps.py").read_text()
    names = re.findall(
        r'"([A-Z_]+)"', text[text.index("CAPS = ") : text.index("]", text.index("CAPS = "))]
    )
    assert names == kind_checks._CAPABILITIES


def test_missing_capabilities_are_read_from_the_bounding_set(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t000001fffeffffff\n")
    assert missing_capabilities(status) == ["CAP_SYS_RESOURCE"]
    status.write_text("CapBnd:\t000001ffffffffff\n")
    assert missing_capabilities(status) == []


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
        {"gp_cluster_name": "gp-x", "gp_k8s_version": "1.36", "gp_keep_cluster": True},
        {},
        cwd=tmp_path,
    )
    provider = make_provider(options, tmp_path / "state", root=tmp_path)
    assert isinstance(provider, KindProvider)
    assert (provider.name, provider.keep) == ("gp-x", True)
    assert provider.node_image == KIND_NODE_IMAGES["1.36"]
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


def test_a_kube_proxy_mode_creates_the_cluster_from_the_config_with_that_mode(
    make: Any, fake_runner: Any, tmp_path: Path
) -> None:
    provider = make(proxy_mode="nftables")
    provider.start()
    create = kind_calls(fake_runner)[1]
    config = Path(create[create.index("--config") + 1])
    assert config.parent == tmp_path / "state" and config != make.config_file
    written = config.read_text()
    assert "kubeProxyMode: nftables" in written and "name: other" in written
    provider.stop()
    assert not config.exists()  # nothing left in the run's folder
