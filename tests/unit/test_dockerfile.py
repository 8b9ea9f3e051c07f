"""The workload's images: the Dockerfile's default base image is pinned by tag and digest,
and both builds (workloads/Dockerfile on kind, hack/images.sh on the local cluster)
install the app's Python packages from one hash-pinned requirements file. Text checks of
how the builds are composed; nothing is built here."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "workloads" / "Dockerfile"
REQUIREMENTS = REPO / "workloads" / "app" / "requirements.txt"
IMAGES_SH = REPO / "hack" / "images.sh"
WHEELS_SH = REPO / "hack" / "wheels.sh"
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


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, args = line.strip().partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def _requirements(path: Path = REQUIREMENTS) -> list[list[str]]:
    """A requirements file's entries, each split into words, continuations joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line.split() for line in lines if line]


def test_the_dockerfile_installs_the_requirements_from_hashed_wheels_only() -> None:
    instructions = dockerfile_instructions()
    runs = [i for i, (kw, args) in enumerate(instructions) if kw == "RUN" and "pip" in args]
    assert len(runs) == 1, instructions
    argv = shlex.split(instructions[runs[0]][1])
    assert argv[:2] == ["pip", "install"], argv
    assert {"--require-hashes", "--only-binary=:all:"} <= set(argv), argv
    assert argv[argv.index("-r") + 1] == "/app/requirements.txt", argv
    # The file is in the image before pip reads it.
    copied = [
        i
        for i, (kw, args) in enumerate(instructions[: runs[0]])
        if kw == "COPY" and args.split()[-1] in ("/app/", "/app/requirements.txt")
    ]
    assert copied, instructions


def test_the_dockerfile_copies_the_app_and_runs_it_in_exec_form() -> None:
    # Exec form: the app is PID 1 and gets SIGTERM itself.
    instructions = dockerfile_instructions()
    assert ("COPY", "app/ /app/") in instructions
    cmds = [args for kw, args in instructions if kw == "CMD"]
    assert [json.loads(c) for c in cmds] == [["python3", "/app/server.py"]]


def pinned_names(path: Path) -> list[str]:
    """The names a requirements file pins, each checked: `NAME==VERSION` and sha256
    hashes only, no hash twice, no name twice (normalized as pip does)."""
    entries = _requirements(path)
    assert entries, path
    names = []
    for words in entries:
        spec, options = words[0], words[1:]
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", spec), words
        assert options, f"{spec} has no --hash"
        for option in options:
            assert re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", option), (spec, option)
        assert len(set(options)) == len(options), spec
        names.append(re.sub(r"[-_.]+", "-", spec.split("==")[0]).lower())
    assert len(set(names)) == len(names), names
    return names


def test_every_requirement_is_pinned_to_a_version_with_sha256_hashes() -> None:
    # The app's gRPC and WebSocket servers.
    assert {"grpcio", "websockets"} <= set(pinned_names(REQUIREMENTS))


def test_the_local_image_installs_the_same_requirements_file_with_hashes() -> None:
    images = IMAGES_SH.read_text()
    assert "$repo/workloads/app/requirements.txt" in images
    assert '"$here/wheels.sh" install' in images
    # On the sys.path of Debian's python3.11 (the rootfs's python3).
    assert ":/usr/local/lib/python3.11/dist-packages" in images
    install = WHEELS_SH.read_text().split("\ninstall() {", 1)[1].split("\n}\n", 1)[0]
    assert "--require-hashes" in install
    assert "--only-binary=:all:" in install
