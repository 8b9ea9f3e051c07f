"""Helpers shared by graceproof's own tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

pytest_plugins = ["pytester"]

# Options every inner pytest run gets: Locust's plugin patches the process with gevent
# when loaded, and the cache is noise in a temporary directory.
INNER_BASE_ARGS = ("-p", "no:locust", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def _unit_tests_never_reach_a_cluster(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every API call goes through ApiClient.call_api; in a unit test it fails loudly.
    if "unit" not in request.path.parts:
        return

    def must_not_be_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("Must not be called: a unit test tried to reach the Kubernetes API")

    monkeypatch.setattr(kubernetes.client.ApiClient, "call_api", must_not_be_called)


@pytest.fixture
def clean_graceproof_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove GRACEPROOF_* variables, so only what a test sets counts."""
    for name in list(os.environ):
        if name.startswith("GRACEPROOF_"):
            monkeypatch.delenv(name)


InnerRun = Callable[..., pytest.RunResult]


@pytest.fixture
def run_inner(pytester: pytest.Pytester, clean_graceproof_env: None) -> InnerRun:
    """Run pytest on pytester's files in-process (or as a subprocess) with safe options."""

    def run(*args: str, subprocess: bool = False, timeout: float = 300) -> pytest.RunResult:
        all_args = (*INNER_BASE_ARGS, *args)
        if subprocess:
            return pytester.runpytest_subprocess(*all_args, timeout=timeout)
        return pytester.runpytest(*all_args)

    return run


class FakeRunner:
    """Stands in for a command runner: records argv lists, answers from a table."""

    def __init__(self, answers: dict[tuple[str, ...], str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = dict(answers or {})
        self.fail_on: dict[tuple[str, ...], BaseException] = {}

    def __call__(self, argv: Sequence[str], timeout: float) -> str:
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        for prefix, exc in self.fail_on.items():
            if tuple(argv[: len(prefix)]) == prefix:
                raise exc
        for prefix, answer in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return answer
        return ""


@pytest.fixture
def fake_runner() -> FakeRunner:
    return FakeRunner()


def _which_finding(*present: str) -> Callable[[str], str | None]:
    def which(tool: str) -> str | None:
        return f"/usr/bin/{tool}" if tool in present else None

    return which


@pytest.fixture
def fake_which() -> Callable[..., Callable[[str], str | None]]:
    """fake_which("kind", "docker"): a shutil.which that finds only those programs."""
    return _which_finding


@pytest.fixture
def write_kubeconfig(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Write a minimal kubeconfig pointing at `server` (never contacted by unit tests)."""

    def write(
        server: str = "https://127.0.0.1:1", name: str = "kc", directory: Path | None = None
    ) -> Path:
        doc: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "ctx",
        }
        path = (directory or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return path

    yield write


@pytest.fixture
def fresh_run_id() -> str:
    """A run id of its own for an inner session, so its namespaces can be told apart."""
    return "t" + secrets.token_hex(4)


@pytest.fixture
def inner_cluster_args(cluster: Any, fresh_run_id: str) -> list[str]:
    """Options for an inner session using the outer session's cluster (as `existing`)."""
    return [
        "--gp-provider",
        "existing",
        "--gp-kubeconfig",
        str(cluster.kubeconfig),
        "--gp-run-id",
        fresh_run_id,
    ]


@pytest.fixture
def free_node_port(kube: Any) -> int:
    """A port of NODE_PORTS (those kind maps to 127.0.0.1) no Service holds: the cluster
    may be shared with other sessions, whose tests use the same ports."""
    from graceproof.workloads import NODE_PORTS

    taken = {
        port.node_port
        for svc in kube.core.list_service_for_all_namespaces().items
        for port in svc.spec.ports or []
        if port.node_port
    }
    free = [p for p in NODE_PORTS if p not in taken]
    assert free, f"every node port of {NODE_PORTS} is taken: {sorted(taken)}"
    return free[-1]


_CLUSTER_DIRS = {"cluster": "cluster", "e2e": "e2e"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under tests/cluster and tests/e2e need a cluster: they carry the marker of
    their folder, and without an explicit provider they are deselected (not skipped:
    a skipped proof must never read as a passed one), with a line saying how to run them.
    """
    for item in items:
        for part, marker in _CLUSTER_DIRS.items():
            if part in item.path.parts:
                item.add_marker(getattr(pytest.mark, marker))
    if os.environ.get("GRACEPROOF_ACTION_STEPS") != "1":
        # It creates a kind cluster through the Action's own steps: only when asked
        # (.ci/run, with hack/docker.sh's engine up).
        here = Path(__file__).parent / "action"
        steps = [i for i in items if i.path.is_relative_to(here)]
        if steps:
            config.hook.pytest_deselected(items=steps)
            items[:] = [i for i in items if i not in steps]
    if os.environ.get("GRACEPROOF_LIFECYCLE") != "1":
        # It stops and restarts the shared local cluster: only when asked (make test).
        lifecycle = [i for i in items if "lifecycle" in i.path.parts]
        if lifecycle:
            config.hook.pytest_deselected(items=lifecycle)
            items[:] = [i for i in items if i not in lifecycle]
    chosen = config.getoption("gp_provider", None) or os.environ.get("GRACEPROOF_PROVIDER")
    if chosen:
        return
    keep = [i for i in items if not (_CLUSTER_DIRS.keys() & set(i.path.parts))]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        config.stash[_DESELECTED] = len(dropped)


_DESELECTED = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    n = terminalreporter.config.stash.get(_DESELECTED, 0)
    if n:
        terminalreporter.write_line(
            f"graceproof: {n} cluster/e2e tests deselected: no cluster was chosen. Run "
            "`make test` (local cluster), or pass --gp-provider existing --gp-kubeconfig PATH.",
            yellow=True,
        )


@pytest.fixture(scope="session")
def helm(request: pytest.FixtureRequest) -> str:
    """helm for the tests that render a chart: GRACEPROOF_HELM, else the helm on PATH,
    else built by hack/tools.sh when the first of them comes (and GRACEPROOF_HELM set
    to it)."""
    import shutil

    from hack_builds import HELM

    on_path = None if os.environ.get(HELM.env_var) else shutil.which("helm")
    return on_path or HELM.path(request)


@pytest.fixture(scope="session")
def nginx_image_args(cluster: Any, request: pytest.FixtureRequest) -> list[str]:
    """The nginx example's image loaded into the cluster, and the `graceproof prove`
    flags that load it again: from the archive examples/nginx/image.sh makes (the local
    cluster, and kind on hack/docker.sh's engine; built when the first test needs it),
    else by name (kind on the user's Docker: `make e2e` builds it with docker). Loaded
    here, since a CLI given a kubeconfig of its own cannot import into the local
    cluster's containerd (it warns, and its pods would never start)."""
    from graceproof.cli_prove_inputs import archive_tags
    from graceproof.config import read_env_file
    from hack_builds import EXAMPLE_NGINX, ROOT, builds_archives

    if builds_archives(cluster, EXAMPLE_NGINX):
        archive = EXAMPLE_NGINX.path(request)
        for tag in archive_tags(Path(archive)):
            cluster.load_image(tag, Path(archive))
        return ["--image-archive", archive]
    ref = read_env_file(ROOT / "hack" / "versions.env")["EXAMPLE_NGINX_IMAGE"]
    cluster.load_image(ref)
    return ["--image", ref]


LOAD_ARCHIVE_ENV = "GRACEPROOF_LOAD_ARCHIVE"
LOAD_IMAGE = "graceproof/load:0.1.0"


@pytest.fixture(scope="session")
def load_image(cluster: Any) -> str:
    """graceproof's load image (Locust and its clients) for an in-cluster load: from the
    archive hack/images.sh makes (local cluster; `make test` passes it), else by name
    (kind: `make e2e` builds it with docker)."""
    from graceproof.providers.existing import ExistingProvider

    archive = os.environ.get(LOAD_ARCHIVE_ENV)
    if archive:
        cluster.load_image(f"docker.io/{LOAD_IMAGE}", Path(archive))
        return LOAD_IMAGE
    if isinstance(cluster, ExistingProvider) and cluster.containerd_addresses():
        pytest.fail(f"the local cluster needs the load image: {LOAD_ARCHIVE_ENV}=<archive>")
    cluster.load_image(LOAD_IMAGE)
    return LOAD_IMAGE
