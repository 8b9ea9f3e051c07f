"""The load image (LOAD_IMAGE, the Locust master and worker pods): both builds
(workloads/load/Dockerfile on kind, hack/images.sh on the local cluster) install one
hash-pinned requirements file that carries Locust, grpcio, websocket-client and
sseclient-py at the versions graceproof's venv runs, with every dependency of theirs.
Text checks of how the builds are composed, and of the official Locust image's pin;
nothing is built here.

Locust is never imported here (it monkey-patches gevent into the process): the venv's
versions are read from the installed distributions' metadata.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from test_dockerfile import dockerfile_instructions, pinned_names

REPO = Path(__file__).resolve().parents[2]
LOAD = REPO / "workloads" / "load"
DOCKERFILE = LOAD / "Dockerfile"
REQUIREMENTS = LOAD / "requirements.txt"
WORKLOAD_DOCKERFILE = REPO / "workloads" / "Dockerfile"
IMAGES_SH = REPO / "hack" / "images.sh"
VERSIONS_ENV = REPO / "hack" / "versions.env"
# What graceproof's locustfiles import: Locust itself, grpcio (locust_grpc.py),
# websocket-client (locust_websocket.py) and sseclient-py (locust_sse.py; its requests
# is Locust's).
DIRECT = ("locust", "grpcio", "websocket-client", "sseclient-py")
# name:tag@sha256:<64 hex>, the name with its registry, e.g. docker.io/locustio/locust:...
PINNED = re.compile(r"^(?P<name>[\w./-]+):(?P<tag>[\w][\w.-]*)@sha256:(?P<digest>[0-9a-f]{64})$")
# The platforms the pins serve (hack/wheels.sh): cp311 and cp312 on Linux, both arches.
TARGETS = [
    {
        "python_version": py,
        "python_full_version": f"{py}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
        "os_name": "posix",
    }
    for py in ("3.11", "3.12")
    for machine in ("x86_64", "aarch64")
]
REPIN = "edit its NAME==VERSION lines, then run hack/wheels.sh pin workloads/load/requirements.txt"


def _normalize(name: str) -> str:
    """PEP 503: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> list[list[str]]:
    """requirements.txt's entries, each split into words, continuations joined."""
    text = re.sub(r"\\\n", " ", REQUIREMENTS.read_text())
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line.split() for line in lines if line]


def _pins() -> dict[str, str]:
    """Normalized name -> pinned version."""
    return {
        _normalize(words[0].split("==")[0]): words[0].split("==")[1] for words in _requirements()
    }


def _versions_env() -> dict[str, str]:
    values = {}
    for line in VERSIONS_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _venv_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{name} is not installed in this venv: run 'make venv'")


def test_every_requirement_is_pinned_to_a_version_with_sha256_hashes() -> None:
    assert {_normalize(n) for n in DIRECT} <= set(pinned_names(REQUIREMENTS))


def _series(version: str) -> str:
    return ".".join(version.split(".")[:2])


@pytest.mark.parametrize("name", DIRECT)
def test_the_image_runs_the_release_series_of_the_venv(name: str) -> None:
    # What the unit tests run against on the host is what the pods run, to the release
    # series: a fresh venv (pyproject.toml asks for ranges) takes a new patch release
    # the day PyPI has it, before anyone re-pins (seen: grpcio 1.85.3 vs the pinned
    # 1.85.1); a new minor or major release must be re-pinned.
    pinned, venv = _pins()[name], _venv_version(name)
    assert _series(pinned) == _series(venv), (
        f"{name}: pinned {pinned}, the venv has {venv}: {REPIN}"
    )


def test_every_dependency_of_the_venvs_locustfile_clients_is_pinned() -> None:
    # The venv's metadata, transitively, for every platform the pins serve: pip with
    # --require-hashes refuses an unpinned dependency at build time; this says so sooner.
    pins = _pins()
    needed: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(name, frozenset()) for name in DIRECT]
    while todo:
        name, extras = todo.pop()
        key = _normalize(name)
        if extras <= needed.get(key, set()) and key in needed:
            continue
        needed.setdefault(key, set()).update(extras)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            wanted = req.marker is None or any(
                req.marker.evaluate({**target, "extra": extra})
                for target in TARGETS
                for extra in (extras or {""})
            )
            if wanted:
                todo.append((req.name, frozenset(req.extras)))
    # locust 2.47.0 requires pytest, without a marker: pytest is among them.
    missing = sorted(set(needed) - set(pins))
    assert not missing, f"not pinned: {missing}: {REPIN}"


def test_the_dockerfile_installs_the_requirements_from_hashed_wheels_only() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    runs = [i for i, (kw, args) in enumerate(instructions) if kw == "RUN" and "pip" in args]
    assert len(runs) == 1, instructions
    argv = shlex.split(instructions[runs[0]][1])
    assert argv[:2] == ["pip", "install"], argv
    assert {"--require-hashes", "--only-binary=:all:"} <= set(argv), argv
    installed = argv[argv.index("-r") + 1]
    # The file is copied from the build context (workloads/load/) before pip reads it.
    copies = [args.split() for kw, args in instructions[: runs[0]] if kw == "COPY"]
    assert ["requirements.txt", installed] in copies, instructions


def test_the_dockerfile_builds_on_the_workload_images_pinned_base() -> None:
    def default(path: Path) -> str:
        found = re.findall(r"^ARG BASE_IMAGE=(\S+)\s*$", path.read_text(), re.MULTILINE)
        assert len(found) == 1, (path, found)
        return str(found[0])

    base = default(DOCKERFILE)
    assert PINNED.match(base), base
    assert base == default(WORKLOAD_DOCKERFILE)
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert froms == ["${BASE_IMAGE}"]


def test_the_dockerfile_runs_locust_in_exec_form_in_the_locustfiles_folder() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    assert ("WORKDIR", "/locust") in instructions
    cmds = [json.loads(args) for kw, args in instructions if kw == "CMD"]
    assert cmds == [["python3", "-m", "locust"]]
    # No locustfile baked in: graceproof mounts its own at /locust.
    assert not [args for kw, args in instructions if kw in ("COPY", "ADD") and ".py" in args]


def test_the_dockerfile_header_builds_the_tag_of_versions_env() -> None:
    load_image = _versions_env()["LOAD_IMAGE"]
    assert re.fullmatch(r"graceproof/load:[\w][\w.-]*", load_image), load_image
    assert f"docker build -t {load_image} workloads/load/" in DOCKERFILE.read_text()


def test_the_local_image_installs_the_same_requirements_and_is_tagged_load_image() -> None:
    images = IMAGES_SH.read_text()
    assert '"$repo/workloads/load/requirements.txt"' in images
    assert '--tag "docker.io/$LOAD_IMAGE"' in images
    # The load archive: its site-packages on the sys.path of Debian's python3.11, run
    # as the Dockerfile runs it.
    build = images.split('--tag "docker.io/$LOAD_IMAGE"', 1)[1].split("\n\n", 1)[0]
    assert '"$load_site_dir:/usr/local/lib/python3.11/dist-packages"' in build
    assert """--cmd '["python3", "-m", "locust"]'""" in build
    assert "--workdir /locust" in build
    assert "--env PYTHONUNBUFFERED=1" in build
    # Imported with the others, and its path printed only on request.
    assert 'gp_import_images "$pause_tar" "$workload_tar" "$load_tar"' in images
    assert "hack/images.sh --print load" in images


def test_the_official_locust_image_is_pinned_by_tag_and_digest() -> None:
    image = _versions_env()["LOCUST_OFFICIAL_IMAGE"]
    match = PINNED.match(image)
    assert match, image
    assert match["name"] == "docker.io/locustio/locust", image
    assert re.fullmatch(r"\d+\.\d+\.\d+", match["tag"]), image
