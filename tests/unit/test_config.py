from __future__ import annotations

import re
from pathlib import Path

import pytest

from graceproof import paths
from graceproof.config import (
    DEFAULT_IMAGE,
    OptionError,
    build_options,
    parse_bool,
    read_env_file,
)
from graceproof.providers.kind_release import KIND_NODE_IMAGES


def build(cli: dict[str, object] | None = None, env: dict[str, str] | None = None, **kw: object):
    kw.setdefault("cwd", Path("/work/somewhere"))
    return build_options(cli or {}, env or {}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\n")
    return path


def test_defaults_are_a_kind_cluster_named_graceproof_on_1_34() -> None:
    opts = build()
    assert opts.provider == "kind"
    assert opts.cluster_name == "graceproof"
    assert opts.k8s_version == "1.34"
    assert opts.node_image == KIND_NODE_IMAGES["1.34"]
    assert opts.kubeconfig is None
    assert opts.keep_cluster is False and opts.keep_failed is False
    assert opts.artifacts == Path("/work/somewhere/artifacts")
    assert opts.report_dir == Path("/work/somewhere/reports")
    assert opts.image_archive is None


def test_default_run_id_is_short_random_and_fresh_per_session() -> None:
    first, second = build().run_id, build().run_id
    assert re.fullmatch(r"[0-9a-f]{6}", first)
    assert first != second


def test_cli_beats_environment_beats_default() -> None:
    env = {"GRACEPROOF_CLUSTER_NAME": "from-env"}
    assert build(env=env).cluster_name == "from-env"
    assert build({"gp_cluster_name": "from-cli"}, env).cluster_name == "from-cli"


def test_cli_flag_true_wins_over_environment_false() -> None:
    opts = build({"gp_keep_failed": True}, {"GRACEPROOF_KEEP_FAILED": "no"})
    assert opts.keep_failed is True


def test_empty_environment_variable_counts_as_unset() -> None:
    assert build(env={"GRACEPROOF_CLUSTER_NAME": "  "}).cluster_name == "graceproof"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("False", False), ("no", False)],
)
def test_boolean_environment_values_accepted(text: str, expected: bool) -> None:
    assert build(env={"GRACEPROOF_KEEP_FAILED": text}).keep_failed is expected


@pytest.mark.parametrize("text", ["maybe", "on", "2", "ja"])
def test_other_boolean_environment_values_are_errors_naming_the_variable(text: str) -> None:
    with pytest.raises(OptionError, match=f"GRACEPROOF_KEEP_CLUSTER={text!r}"):
        build(env={"GRACEPROOF_KEEP_CLUSTER": text})
    with pytest.raises(OptionError):
        parse_bool(text, name="X")


def test_unknown_provider_is_rejected() -> None:
    unknown = "unknown cluster provider \\(--gp-provider\\) 'minikube'"
    with pytest.raises(OptionError, match=unknown):
        build({"gp_provider": "minikube"})


def test_existing_provider_requires_a_kubeconfig() -> None:
    with pytest.raises(OptionError, match="needs --gp-kubeconfig"):
        build({"gp_provider": "existing"})


def test_existing_provider_rejects_a_kubeconfig_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="does not exist"):
        build({"gp_provider": "existing", "gp_kubeconfig": str(tmp_path / "nope")})


def test_existing_provider_with_kubeconfig_from_environment(kubeconfig: Path) -> None:
    opts = build(env={"GRACEPROOF_PROVIDER": "existing", "GRACEPROOF_KUBECONFIG": str(kubeconfig)})
    assert opts.provider == "existing"
    assert opts.kubeconfig == kubeconfig


@pytest.mark.parametrize("where", ["cli", "env"])
def test_existing_provider_rejects_a_kubernetes_version(kubeconfig: Path, where: str) -> None:
    cli: dict[str, object] = {"gp_provider": "existing", "gp_kubeconfig": str(kubeconfig)}
    env: dict[str, str] = {}
    if where == "cli":
        cli["gp_k8s_version"] = "1.33"
    else:
        env["GRACEPROOF_K8S_VERSION"] = "1.33"
    with pytest.raises(OptionError, match="kind only"):
        build(cli, env)


def test_existing_provider_rejects_keep_cluster(kubeconfig: Path) -> None:
    with pytest.raises(OptionError, match="--gp-keep-cluster applies to kind only"):
        build(
            {"gp_provider": "existing", "gp_kubeconfig": str(kubeconfig), "gp_keep_cluster": True}
        )


def test_existing_provider_accepts_keep_cluster_false_from_environment(kubeconfig: Path) -> None:
    opts = build(
        {"gp_provider": "existing", "gp_kubeconfig": str(kubeconfig)},
        {"GRACEPROOF_KEEP_CLUSTER": "0"},
    )
    assert opts.keep_cluster is False


def test_kind_provider_rejects_a_kubeconfig(kubeconfig: Path) -> None:
    with pytest.raises(OptionError, match="private file"):
        build({"gp_kubeconfig": str(kubeconfig)})


@pytest.mark.parametrize("name", ["Graceproof", "-gp", "gp-", "g_p", "a" * 64, "gp.x"])
def test_cluster_name_must_be_a_dns_label(name: str) -> None:
    with pytest.raises(OptionError, match="DNS-1123"):
        build({"gp_cluster_name": name})


@pytest.mark.parametrize(
    ("given", "minor"), [("1.35", "1.35"), ("v1.36", "1.36"), ("1.34.11", "1.34")]
)
def test_kubernetes_version_accepts_minor_or_the_pinned_patch(given: str, minor: str) -> None:
    opts = build({"gp_k8s_version": given})
    assert opts.k8s_version == minor
    assert opts.node_image == KIND_NODE_IMAGES[minor]


@pytest.mark.parametrize("given", ["1.33", "1.38", "1.34.1", "latest"])
def test_kubernetes_version_outside_the_table_lists_the_known_ones(given: str) -> None:
    with pytest.raises(OptionError, match=r"1\.37, 1\.36, 1\.35, 1\.34"):
        build({"gp_k8s_version": given})


def test_every_node_image_is_pinned_by_digest_to_its_minor() -> None:
    assert set(KIND_NODE_IMAGES) == {"1.34", "1.35", "1.36", "1.37"}
    for minor, image in KIND_NODE_IMAGES.items():
        assert re.fullmatch(rf"kindest/node:v{re.escape(minor)}\.\d+@sha256:[0-9a-f]{{64}}", image)


@pytest.mark.parametrize("run_id", ["UPPER", "a" * 17, "has_underscore", "-x"])
def test_run_id_must_be_a_short_dns_label(run_id: str) -> None:
    with pytest.raises(OptionError, match="--gp-run-id"):
        build({"gp_run_id": run_id})


def test_run_id_from_environment() -> None:
    assert build(env={"GRACEPROOF_RUN_ID": "ci-42"}).run_id == "ci-42"


def test_relative_paths_are_resolved_against_the_invocation_directory(tmp_path: Path) -> None:
    opts = build({"gp_artifacts": "out/a", "gp_report_dir": "../r"}, cwd=tmp_path)
    assert opts.artifacts == tmp_path / "out" / "a"
    assert opts.report_dir == tmp_path.parent / "r"


def test_image_archive_must_exist(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="--gp-image-archive"):
        build({"gp_image_archive": str(tmp_path / "missing.tar")})
    archive = tmp_path / "img.tar"
    archive.write_bytes(b"x")
    assert build({"gp_image_archive": "img.tar"}, cwd=tmp_path).image_archive == archive


@pytest.mark.parametrize(
    "image", ["graceproof/workload", "x/y:latest", "localhost:5000/x", "a b:1"]
)
def test_image_needs_a_pinned_tag(image: str) -> None:
    with pytest.raises(OptionError, match="--gp-image"):
        build({"gp_image": image})


@pytest.mark.parametrize("image", ["localhost:5000/x:1", "x/y@sha256:" + "0" * 64, "nginx:1.27"])
def test_image_with_tag_or_digest_is_accepted(image: str) -> None:
    assert build({"gp_image": image}).image == image


def test_default_image_comes_from_versions_env_under_the_rootdir(tmp_path: Path) -> None:
    (tmp_path / "hack").mkdir()
    (tmp_path / "hack" / "versions.env").write_text(
        "# comment\nKUBERNETES_VERSION=v1.34.4\nWORKLOAD_IMAGE=example/workload:9.9\n"
    )
    assert build(root=tmp_path).image == "example/workload:9.9"


def test_default_image_without_versions_env_is_the_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setattr(paths, "INSTALLED_DATA", tmp_path / "no-data")
    assert build(root=tmp_path).image == DEFAULT_IMAGE


def test_read_env_file_skips_comments_and_strips_quotes(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("# c\n\nA=1\nexport B='two words'\nC=\"3\"\nnot a pair\n")
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "3"}


def test_options_are_immutable() -> None:
    opts = build()
    with pytest.raises(AttributeError):
        opts.cluster_name = "x"  # type: ignore[misc]


@pytest.mark.parametrize("where", ["cli", "env"])
def test_a_node_image_given_replaces_the_pinned_one(where: str) -> None:
    image = "graceproof/kind-node:v1.34.4-abc123"
    cli: dict[str, object] = {"gp_node_image": image} if where == "cli" else {}
    env = {"GRACEPROOF_NODE_IMAGE": image} if where == "env" else {}
    opts = build(cli, env)
    assert opts.node_image == image and opts.kind_node_image == image
    assert opts.k8s_version == "1.34"


def test_a_node_image_without_a_tag_is_refused_naming_the_flag() -> None:
    with pytest.raises(OptionError, match="--gp-node-image 'my/node' needs an explicit tag"):
        build({"gp_node_image": "my/node"})


def test_existing_provider_rejects_a_node_image(kubeconfig: Path) -> None:
    with pytest.raises(OptionError, match="--gp-node-image applies to kind only"):
        build(
            {
                "gp_provider": "existing",
                "gp_kubeconfig": str(kubeconfig),
                "gp_node_image": "n/node:v1",
            }
        )


def test_a_node_image_of_another_minor_than_the_one_asked_for_is_refused() -> None:
    image = "graceproof/kind-node:v1.34.4-abc123"
    with pytest.raises(OptionError, match=r"runs Kubernetes 1\.34, but --gp-k8s-version asks"):
        build({"gp_node_image": image, "gp_k8s_version": "1.36"})
    assert build({"gp_node_image": image, "gp_k8s_version": "1.34"}).node_image == image
