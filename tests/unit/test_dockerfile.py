"""The workload's Dockerfile: its default base image is pinned, by tag and digest."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "workloads" / "Dockerfile"
# name:tag@sha256:<64 hex>, e.g. python:3.12.12-slim-bookworm@sha256:...
PINNED = re.compile(r"^(?P<name>[\w./-]+):(?P<tag>[\w][\w.-]*)@sha256:(?P<digest>[0-9a-f]{64})$")


def _default_base_image() -> str:
    defaults = re.findall(r"^ARG BASE_IMAGE=(\S+)\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    assert len(defaults) == 1, defaults
    return str(defaults[0])


def test_the_default_base_image_names_a_tag_and_is_pinned_by_digest() -> None:
    image = _default_base_image()
    match = PINNED.match(image)
    assert match, image
    assert match["tag"] != "latest", image


def test_the_default_base_image_is_a_debian_python_image() -> None:
    # The prestop-exec hook needs sh and GNU date besides python3: a Debian image has them.
    match = PINNED.match(_default_base_image())
    assert match
    assert match["name"] == "python"
    assert "bookworm" in match["tag"]


def test_the_image_is_built_from_the_base_image_argument() -> None:
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert froms == ["${BASE_IMAGE}"]
