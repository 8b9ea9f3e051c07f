"""hack/image_archive.py as hack/kind-images.sh uses it: one image under several tags
(kind's node wants pause under kubeadm's tag and under its containerd's sandbox_image)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "hack" / "image_archive.py"


def test_one_archive_names_its_image_under_every_tag_given(tmp_path: Path) -> None:
    src = tmp_path / "pause"
    src.mkdir()
    (src / "pause").write_text("not a binary")
    out = tmp_path / "pause.tar"
    tags = ["registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.10"]
    subprocess.run(
        [
            sys.executable,
            TOOL,
            "--tag",
            tags[0],
            "--tag",
            tags[1],
            "--out",
            out,
            "--layer-dir",
            f"{src}:/",
            "--entrypoint",
            '["/pause"]',
        ],
        check=True,
    )
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    assert len(manifest) == 1
    assert manifest[0]["RepoTags"] == tags
    assert config["config"]["Entrypoint"] == ["/pause"]
