"""hack/image_archive.py merge: several docker-save archives as one, for `kind build
node-image`, which reads an archive's tags from the first metadata entry it meets."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "hack" / "image_archive.py"


def archive(tmp: Path, tag: str, content: str) -> Path:
    src = tmp / tag.replace("/", "_").replace(":", "_")
    src.mkdir()
    (src / "file").write_text(content)
    out = tmp / f"{src.name}.tar"
    subprocess.run(
        [sys.executable, TOOL, "--tag", tag, "--out", out, "--layer-dir", f"{src}:/"], check=True
    )
    return out


def test_merge_keeps_every_image_and_lists_every_tag_first(tmp_path: Path) -> None:
    a = archive(tmp_path, "registry.k8s.io/etcd:3.6.4-0", "etcd")
    b = archive(tmp_path, "docker.io/kindest/kindnetd:v1", "kindnetd")
    same = archive(tmp_path, "registry.k8s.io/pause:3.10.1", "etcd")  # a layer shared with a
    out = tmp_path / "merged.tar"
    subprocess.run([sys.executable, TOOL, "merge", "--out", out, a, b, same], check=True)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert names[0] == "repositories"
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        for entry in manifest:  # every blob an entry names is in the archive
            assert {entry["Config"], *entry["Layers"]} <= set(names)
    assert repositories == {
        "registry.k8s.io/etcd": {"3.6.4-0": repositories["registry.k8s.io/etcd"]["3.6.4-0"]},
        "docker.io/kindest/kindnetd": {"v1": repositories["docker.io/kindest/kindnetd"]["v1"]},
        "registry.k8s.io/pause": {"3.10.1": repositories["registry.k8s.io/pause"]["3.10.1"]},
    }
    assert [e["RepoTags"] for e in manifest] == [
        ["registry.k8s.io/etcd:3.6.4-0"],
        ["docker.io/kindest/kindnetd:v1"],
        ["registry.k8s.io/pause:3.10.1"],
    ]
    assert len(names) == len(set(names))  # the shared layer is written once
    assert not (tmp_path / "merged.partial").exists()


def test_an_archive_from_unchanged_inputs_is_kept_and_a_changed_file_rebuilds_it(
    tmp_path: Path,
) -> None:
    # The local cluster's import skips an archive it has imported (path, size, mtime):
    # the archive must stay as it is while its inputs do, and change when one does,
    # even when a layer folder is staged at a new path each time (hack/images.sh).
    app = tmp_path / "app"
    app.mkdir()
    (app / "server.py").write_text("v1")
    out = tmp_path / "img.tar"

    def build(staged: Path) -> int:
        staged.mkdir(exist_ok=True)
        cmd = [sys.executable, TOOL, "--tag", "x/y:1", "--out", out]
        subprocess.run(
            [*cmd, "--layer-dir", f"{app}:/app", "--layer-dir", f"{staged}:/w"], check=True
        )
        return out.stat().st_mtime_ns

    first = build(tmp_path / "stage1")
    assert build(tmp_path / "stage2") == first
    (app / "server.py").write_text("v2")
    changed = build(tmp_path / "stage3")
    assert changed != first
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer) as inner:
            assert inner.extractfile("app/server.py").read() == b"v2"  # type: ignore[union-attr]

    # An archive rewritten by something else (an older checkout sharing the cache) is
    # not taken for the one these inputs made.
    out.write_bytes(b"not this archive")
    build(tmp_path / "stage4")
    with tarfile.open(out) as tar:
        assert "manifest.json" in tar.getnames()
