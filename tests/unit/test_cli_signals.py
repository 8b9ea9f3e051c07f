"""SIGTERM to the `graceproof` command unwinds like Ctrl-C (tests/cluster/
test_interrupt.py proves the cleanup and the exit code on a cluster)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from graceproof.cli import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, _terminate_on_sigterm


def test_sigterm_becomes_terminated_and_a_second_one_is_ignored() -> None:
    previous = _terminate_on_sigterm()
    assert previous is not None  # pytest runs tests in the main thread
    try:
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at the next bytecode, long before this ends
        # The cleanup the first one started is not cut by a second one.
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_exit_codes_are_a_shells() -> None:
    assert (EXIT_INTERRUPTED, EXIT_TERMINATED) == (130, 143)
    # Not an Exception: no `except Exception` on the way out swallows it.
    assert not issubclass(Terminated, Exception)
