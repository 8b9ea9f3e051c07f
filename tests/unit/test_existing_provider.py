from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.errors import (
    BadKubeconfigError,
    CommandFailedError,
    ImageNotAvailableError,
    MissingToolError,
)
from graceproof.providers.existing import ExistingProvider, containerd_ref

IMAGE = "graceproof/workload:0.1.0"
REF = "docker.io/graceproof/workload:0.1.0"
CTR = ["/opt/bin/ctr", "--address", "/run/gp/containerd.sock", "-n", "k8s.io", "images"]


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Path:
    d = tmp_path / "local-cluster"
    d.mkdir()
    return d


@pytest.fixture
def make(tmp_path: Path, fake_runner: Any, fake_which: Any) -> Any:
    def make(source: Path, **kw: Any) -> ExistingProvider:
        kw.setdefault("state_dir", tmp_path / "state")
        kw.setdefault("runner", fake_runner)
        kw.setdefault("which", fake_which("/opt/bin/ctr", "ctr"))
        return ExistingProvider(source_kubeconfig=source, **kw)

    return make


def write_cluster_env(directory: Path) -> None:
    (directory / "cluster.env").write_text(
        "# written by hack/local-cluster.sh\n"
        "CONTAINERD_ADDRESS=/run/gp/containerd.sock\n"
        "CTR=/opt/bin/ctr\n"
        "APISERVER=https://127.0.0.1:6443\n"
    )


def test_start_uses_a_private_copy_and_never_changes_the_given_file(
    make: Any, write_kubeconfig: Any, cluster_dir: Path
) -> None:
    source = write_kubeconfig(directory=cluster_dir, name="kubeconfig")
    original = source.read_text()
    provider = make(source)
    provider.start()
    assert provider.kubeconfig != source
    assert stat.S_IMODE(provider.kubeconfig.stat().st_mode) == 0o600
    assert yaml.safe_load(provider.kubeconfig.read_text()) == yaml.safe_load(original)
    assert provider.name == "ctx"
    provider.stop()
    assert not provider.kubeconfig.exists()
    assert source.read_text() == original


def test_relative_certificate_paths_in_the_copy_point_at_the_original_files(
    make: Any, cluster_dir: Path
) -> None:
    source = cluster_dir / "kubeconfig"
    source.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority": "pki/ca.crt",
                        },
                    }
                ],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "client-certificate": "pki/admin.crt",
                            "client-key": "/abs/admin.key",
                        },
                    }
                ],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    provider = make(source)
    provider.start()
    copy = yaml.safe_load(provider.kubeconfig.read_text())
    assert copy["clusters"][0]["cluster"]["certificate-authority"] == str(
        cluster_dir / "pki" / "ca.crt"
    )
    assert copy["users"][0]["user"]["client-certificate"] == str(cluster_dir / "pki" / "admin.crt")
    assert copy["users"][0]["user"]["client-key"] == "/abs/admin.key"


def test_malformed_kubeconfig_is_a_bad_kubeconfig_error(make: Any, tmp_path: Path) -> None:
    source = tmp_path / "broken"
    source.write_text("clusters: [unclosed\n")
    with pytest.raises(BadKubeconfigError, match="not valid YAML"):
        make(source).start()


def test_without_cluster_env_load_image_only_says_images_must_be_pullable(
    make: Any, write_kubeconfig: Any, fake_runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    provider = make(write_kubeconfig())
    provider.start()
    with caplog.at_level(logging.INFO, logger="graceproof"):
        provider.load_image(IMAGE)
    assert fake_runner.calls == []
    assert "must already be pullable" in caplog.text


def test_with_cluster_env_an_archive_is_imported_then_checked(
    make: Any, write_kubeconfig: Any, cluster_dir: Path, fake_runner: Any, tmp_path: Path
) -> None:
    write_cluster_env(cluster_dir)
    fake_runner.answers[(*CTR, "ls")] = REF + "\n"
    provider = make(write_kubeconfig(directory=cluster_dir))
    provider.start()
    provider.load_image(IMAGE, tmp_path / "workload.tar")
    assert fake_runner.calls == [
        [*CTR, "import", str(tmp_path / "workload.tar")],
        [*CTR, "ls", "-q", f"name=={REF}"],
    ]


def test_with_cluster_env_and_no_archive_the_image_must_already_be_there(
    make: Any, write_kubeconfig: Any, cluster_dir: Path, fake_runner: Any
) -> None:
    write_cluster_env(cluster_dir)
    fake_runner.answers[(*CTR, "ls")] = REF + "\n"
    provider = make(write_kubeconfig(directory=cluster_dir))
    provider.start()
    provider.load_image(IMAGE)
    assert fake_runner.calls == [[*CTR, "ls", "-q", f"name=={REF}"]]


def test_a_missing_image_is_a_clear_error_naming_it(
    make: Any, write_kubeconfig: Any, cluster_dir: Path, fake_runner: Any
) -> None:
    write_cluster_env(cluster_dir)
    fake_runner.answers[(*CTR, "ls")] = ""
    provider = make(write_kubeconfig(directory=cluster_dir))
    provider.start()
    with pytest.raises(ImageNotAvailableError) as info:
        provider.load_image(IMAGE)
    assert REF in str(info.value) and "--gp-image-archive" in str(info.value)


def test_a_missing_ctr_is_named(
    make: Any, write_kubeconfig: Any, cluster_dir: Path, fake_which: Any, fake_runner: Any
) -> None:
    write_cluster_env(cluster_dir)
    provider = make(write_kubeconfig(directory=cluster_dir), which=fake_which())
    provider.start()
    with pytest.raises(MissingToolError, match="/opt/bin/ctr"):
        provider.load_image(IMAGE)
    assert fake_runner.calls == []


def test_stop_creates_and_deletes_nothing_in_the_cluster(
    make: Any, write_kubeconfig: Any, fake_runner: Any
) -> None:
    with make(write_kubeconfig()) as provider:
        assert provider.kind == "existing" and not provider.deletes_cluster
    assert fake_runner.calls == []


@pytest.mark.parametrize(
    ("image", "ref"),
    [
        ("graceproof/workload:0.1.0", "docker.io/graceproof/workload:0.1.0"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        ("localhost:5000/x:1", "localhost:5000/x:1"),
        ("localhost/x:1", "localhost/x:1"),
    ],
)
def test_containerd_ref_normalizes_like_docker(image: str, ref: str) -> None:
    assert containerd_ref(image) == ref


class _DockerRunner:
    """ctr lists the image only after an import; docker saves to the path it is given."""

    def __init__(self, docker_has_it: bool) -> None:
        self.calls: list[list[str]] = []
        self.imported = False
        self.docker_has_it = docker_has_it

    def __call__(self, argv: Any, timeout: float) -> str:
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        if argv[:3] == ["docker", "image", "save"]:
            if not self.docker_has_it:
                raise CommandFailedError(argv, 1, "No such image")
            return ""
        if argv[-2:-1] == ["import"]:
            self.imported = True
        if "ls" in argv:
            return REF + "\n" if self.imported else ""
        return ""


def test_an_image_of_a_local_docker_engine_is_saved_and_imported(
    make: Any, write_kubeconfig: Any, cluster_dir: Path, fake_which: Any
) -> None:
    write_cluster_env(cluster_dir)
    runner = _DockerRunner(docker_has_it=True)
    which = fake_which("/opt/bin/ctr", "docker")
    provider = make(write_kubeconfig(directory=cluster_dir), runner=runner, which=which)
    provider.start()
    provider.load_image(IMAGE)
    save = next(c for c in runner.calls if c[:3] == ["docker", "image", "save"])
    assert save[3] == "-o" and save[5] == IMAGE
    assert [*CTR, "import", save[4]] in runner.calls  # the very file docker wrote


def test_without_the_image_in_docker_the_error_still_names_it(
    make: Any, write_kubeconfig: Any, cluster_dir: Path, fake_which: Any
) -> None:
    write_cluster_env(cluster_dir)
    runner = _DockerRunner(docker_has_it=False)
    which = fake_which("/opt/bin/ctr", "docker")
    provider = make(write_kubeconfig(directory=cluster_dir), runner=runner, which=which)
    provider.start()
    with pytest.raises(ImageNotAvailableError, match=REF):
        provider.load_image(IMAGE)
    assert not runner.imported


def test_an_archive_goes_into_every_node_of_a_cluster_of_several(
    make: Any, write_kubeconfig: Any, cluster_dir: Path, tmp_path: Path
) -> None:
    """A drain reschedules pods onto any node: each node's containerd gets the image."""
    (cluster_dir / "cluster.env").write_text(
        "CONTAINERD_ADDRESS=/run/a.sock\n"
        'CONTAINERD_ADDRESSES="/run/a.sock /run/b.sock"\n'
        "CTR=/opt/bin/ctr\n"
    )
    runner = _DockerRunner(docker_has_it=False)
    provider = make(write_kubeconfig(directory=cluster_dir), runner=runner)
    provider.start()
    assert provider.containerd_addresses() == ["/run/a.sock", "/run/b.sock"]
    provider.load_image(IMAGE, tmp_path / "workload.tar")
    imports = [c[2] for c in runner.calls if "import" in c]
    assert imports == ["/run/a.sock", "/run/b.sock"]
