"""Tools and images that only some tests need, built by hack/ when the first of those
tests comes rather than before the first proof (`make test`, `make e2e`).

Each is named by an environment variable. When it is set (a caller built the thing
already, or points at its own), that is used. Otherwise the hack/ script that makes it
runs now, between two tests, so no proof is measured while it takes the CPU; a warm
cache makes that a lookup. Its progress goes to the terminal, not into pytest's
capture, since a cold build takes minutes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("graceproof.tests")


@dataclass(frozen=True)
class HackBuild:
    """One thing hack/ makes: the variable that names it, the command that prints its
    path on stdout, and what it is, for the progress line."""

    env_var: str
    argv: tuple[str, ...]
    what: str

    def path(self, request: pytest.FixtureRequest) -> str:
        """The variable's value, else what the command builds (then also put into the
        variable, so the CLI's subprocesses and later tests see it)."""
        given = os.environ.get(self.env_var)
        if given:
            return given
        capture = request.config.pluginmanager.getplugin("capturemanager")
        started = time.monotonic()
        # A session fixture's own node is the session; the test that asked is this one.
        test = getattr(request, "_pyfuncitem", request.node).nodeid
        with capture.global_and_fixture_disabled():
            print(
                f"\ngraceproof: {self.what}, first needed by {test}: "
                f"{' '.join(self.argv)} (built once, then reused from the cache)",
                flush=True,
            )
            done = subprocess.run(
                [str(ROOT / self.argv[0]), *self.argv[1:]],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                check=False,
            )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            pytest.fail(
                f"{' '.join(self.argv)} failed (exit {done.returncode}); its messages are "
                f"above. Run it by hand, or set {self.env_var}."
            )
        made = lines[-1]
        log.info("%s: %s in %.1f s", self.what, made, time.monotonic() - started)
        os.environ[self.env_var] = made
        return made


TRAEFIK = HackBuild(
    "GRACEPROOF_TRAEFIK_ARCHIVE", ("hack/ingress.sh", "--no-import"), "Traefik's image"
)
EXAMPLE_NGINX = HackBuild(
    "GRACEPROOF_EXAMPLE_NGINX_ARCHIVE",
    ("examples/nginx/image.sh", "--no-import"),
    "the nginx example's image",
)
# Not an image: a YAML file of CRDs, which every cluster needs (kind's too).
GATEWAY_API_CRDS = HackBuild(
    "GRACEPROOF_GATEWAY_API_CRDS", ("hack/gateway-api.sh",), "Gateway API's CRDs"
)
HELM = HackBuild("GRACEPROOF_HELM", ("hack/tools.sh", "helm"), "helm")


def builds_archives(cluster: object, build: HackBuild) -> bool:
    """Whether `build`'s image comes from an archive: one its variable names, else one
    hack/ makes, always on the local cluster (it pulls nothing), and on kind when the
    Makefile says so (GRACEPROOF_BUILD_ARCHIVES=1: hack/docker.sh's engine, which has no
    registry either). On kind with the user's Docker, images are built with docker and
    loaded by name."""
    from graceproof.providers.existing import ExistingProvider

    if os.environ.get(build.env_var):
        return True
    if isinstance(cluster, ExistingProvider) and cluster.containerd_addresses():
        return True
    return os.environ.get("GRACEPROOF_BUILD_ARCHIVES") == "1"
