"""Fixtures of the e2e proofs that deploy the nginx example (examples/nginx)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graceproof.cli_prove import archive_tags
from graceproof.config import read_env_file
from graceproof.providers import ClusterProvider

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE_ENV = "GRACEPROOF_EXAMPLE_NGINX_ARCHIVE"


@pytest.fixture(scope="session")
def nginx_image_args(cluster: ClusterProvider) -> list[str]:
    """The example's image loaded into the cluster, and the `graceproof prove` flags that
    load it again: from the archive examples/nginx/image.sh made (local cluster; `make
    test` and `make e2e` pass it), else by name (kind: `make e2e` builds it with docker)."""
    archive = os.environ.get(ARCHIVE_ENV)
    if archive:
        for tag in archive_tags(Path(archive)):
            cluster.load_image(tag, Path(archive))
        return ["--image-archive", archive]
    ref = read_env_file(ROOT / "hack" / "versions.env")["EXAMPLE_NGINX_IMAGE"]
    cluster.load_image(ref)
    return ["--image", ref]
