"""SIGTERM to a pytest session tears it down as Ctrl-C does, and exits 143.

No cluster here: a fixture's teardown stands in for the namespaces and the Locust
subprocess (tests/cluster/test_interrupt.py checks those on a real cluster).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from graceproof.fixtures.plugin import EXIT_TERMINATED

_SUITE = """
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def resource():
    Path("started").write_text("")
    yield
    Path("torn-down").write_text("")


def test_blocks(resource):
    time.sleep(60)


def test_never_runs():
    Path("second-test-ran").write_text("")
"""


def test_sigterm_stops_the_session_tears_fixtures_down_and_exits_143(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GRACEPROOF_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:locust", "-q"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the inner test never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == EXIT_TERMINATED == 143, out
    assert (tmp_path / "torn-down").exists(), out
    assert not (tmp_path / "second-test-ran").exists(), out
    assert "SIGTERM" in out
