"""graceproof.kubeconfig: the kubeconfig kubectl would use (--kubeconfig, $KUBECONFIG
merged, ~/.kube/config) and its context; and `graceproof prove` finding it so."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.cli import main
from graceproof.config import OptionError
from graceproof.errors import BadKubeconfigError
from graceproof.kubeconfig import KubeconfigSource, find_kubeconfig, merge_kubeconfigs
from graceproof.providers.existing import ExistingProvider


def _config(path: Path, *names: str, current: str | None = None, ca: str | None = None) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": n,
                "cluster": {
                    "server": f"https://{n}.example:6443",
                    **({"certificate-authority": ca} if ca else {}),
                },
            }
            for n in names
        ],
        "users": [{"name": n, "user": {"token": f"t-{n}-{path.name}"}} for n in names],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in names],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_flag_wins_then_kubeconfig_then_the_home_file(tmp_path: Path) -> None:
    flag = _config(tmp_path / "flag.yaml", "a", current="a")
    env_file = _config(tmp_path / "env.yaml", "b", current="b")
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    _config(home / ".kube" / "config", "c", current="c")
    env = {"KUBECONFIG": str(env_file)}
    assert find_kubeconfig(flag, None, env, home) == KubeconfigSource((flag,), None, "--kubeconfig")
    assert find_kubeconfig(None, "x", env, home) == KubeconfigSource(
        (env_file,), "x", "$KUBECONFIG"
    )
    assert find_kubeconfig(None, None, {}, home) == KubeconfigSource(
        (home / ".kube" / "config",), None, "~/.kube/config"
    )
    assert find_kubeconfig(None, None, {}, tmp_path / "nobody") is None


def test_bad_paths_are_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        OptionError, match=r"--kubeconfig .* is a directory: give the kubeconfig file"
    ):
        find_kubeconfig(tmp_path, None, {})
    with pytest.raises(OptionError, match=r"--kubeconfig .*missing.yaml: no such file"):
        find_kubeconfig(tmp_path / "missing.yaml", None, {})
    with pytest.raises(OptionError, match=r"KUBECONFIG=.* names no existing file"):
        find_kubeconfig(None, None, {"KUBECONFIG": str(tmp_path / "gone")})


def test_kubeconfig_lists_merge_as_kubectl_merges_them(tmp_path: Path) -> None:
    first = _config(tmp_path / "1.yaml", "shared", "one")  # no current-context
    second = _config(tmp_path / "2.yaml", "shared", "two", current="two")
    env = {"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)])}
    source = find_kubeconfig(None, None, env)
    assert source is not None and source.files == (first, second)  # missing ones skipped
    merged = merge_kubeconfigs(source)
    assert [c["name"] for c in merged["contexts"]] == ["shared", "one", "two"]
    # The first file to name an entry wins it.
    (shared,) = [u for u in merged["users"] if u["name"] == "shared"]
    assert shared["user"]["token"] == "t-shared-1.yaml"
    assert merged["current-context"] == "two"  # the first one set
    chosen = merge_kubeconfigs(KubeconfigSource(source.files, "one", "$KUBECONFIG"))
    assert chosen["current-context"] == "one"


def test_an_unknown_context_or_an_empty_config_names_the_users_files(tmp_path: Path) -> None:
    kc = _config(tmp_path / "kc.yaml", "a", "b", current="a")
    with pytest.raises(
        OptionError, match=r"--context 'c' is not in .*kc.yaml \(--kubeconfig\): choose one of a, b"
    ):
        merge_kubeconfigs(KubeconfigSource((kc,), "c"))
    none_current = _config(tmp_path / "nc.yaml", "a")
    with pytest.raises(OptionError, match="sets no current-context: choose one with --context"):
        merge_kubeconfigs(KubeconfigSource((none_current,)))
    plain = tmp_path / "plain.yaml"
    plain.write_text("hello\n")
    with pytest.raises(BadKubeconfigError, match=r"kubeconfig .*plain.yaml cannot be used"):
        merge_kubeconfigs(KubeconfigSource((plain,)))


def test_the_provider_writes_the_merged_copy_privately_and_never_the_users_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "certs").mkdir()
    first = _config(tmp_path / "certs" / "1.yaml", "one", current="one", ca="ca.crt")
    second = _config(tmp_path / "2.yaml", "two")
    before = (first.read_text(), second.read_text())
    provider = ExistingProvider(
        source_kubeconfig=first,
        state_dir=tmp_path / "state",
        source=KubeconfigSource((first, second), "two", "$KUBECONFIG"),
    )
    provider.start()
    assert (first.read_text(), second.read_text()) == before
    assert stat.S_IMODE(provider.kubeconfig.stat().st_mode) == 0o600
    copy = yaml.safe_load(provider.kubeconfig.read_text())
    assert copy["current-context"] == "two" and provider.name == "two"
    # A relative certificate path still finds its file from the copy.
    (one,) = [c for c in copy["clusters"] if c["name"] == "one"]
    assert one["cluster"]["certificate-authority"] == str(tmp_path / "certs" / "ca.crt")


def test_prove_without_any_kubeconfig_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    manifests = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "manifests"
    assert main(["prove", "-f", str(manifests)]) == 2
    err = capsys.readouterr().err
    assert "no cluster: give --kubeconfig FILE, set $KUBECONFIG, have ~/.kube/config" in err
    assert main(["prove", "-f", str(manifests), "--kind", "--context", "x"]) == 2
    assert "--context applies to an existing cluster, not to --kind" in capsys.readouterr().err


def test_cluster_env_is_read_beside_the_file_of_the_chosen_context(tmp_path: Path) -> None:
    # hack/'s local cluster writes cluster.env (its containerd) beside its kubeconfig:
    # it must not be used when the context chosen is another file's cluster.
    local_dir, other_dir = tmp_path / "local", tmp_path / "other"
    local_dir.mkdir()
    other_dir.mkdir()
    local = _config(local_dir / "kubeconfig", "local", current="local")
    (local_dir / "cluster.env").write_text("CONTAINERD_ADDRESS=/run/gp/containerd.sock\n")
    prod = _config(other_dir / "config", "prod", current="prod")

    def started(context: str) -> ExistingProvider:
        provider = ExistingProvider(
            source_kubeconfig=local,
            state_dir=tmp_path / f"state-{context}",
            source=KubeconfigSource((local, prod), context, "$KUBECONFIG"),
        )
        provider.start()
        return provider

    assert started("local").containerd_addresses() == ["/run/gp/containerd.sock"]
    assert started("prod").containerd_addresses() == []
