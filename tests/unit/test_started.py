"""Started: the with-block of the cluster providers and the load runners."""

from __future__ import annotations

import logging

import pytest

from graceproof.started import Started


class _Thing(Started):
    def __init__(self, start_fails: bool = False, stop_fails: bool = False) -> None:
        self.start_fails, self.stop_fails = start_fails, stop_fails
        self.stopped: list[bool] = []

    def start(self) -> None:
        if self.start_fails:
            raise RuntimeError("start failed")

    def stop_after(self, failed: bool) -> None:
        self.stopped.append(failed)
        if self.stop_fails:
            raise OSError("cleanup failed")


def test_a_block_that_ends_well_stops_it_once() -> None:
    with _Thing() as thing:
        pass
    assert thing.stopped == [False]


def test_a_failed_start_is_cleaned_up_and_its_error_propagates() -> None:
    thing = _Thing(start_fails=True, stop_fails=True)
    with pytest.raises(RuntimeError, match="start failed"), thing:
        pass
    assert thing.stopped == [True]


def test_a_cleanup_that_fails_after_the_block_failed_does_not_hide_the_blocks_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    thing = _Thing(stop_fails=True)
    with caplog.at_level(logging.ERROR), pytest.raises(ValueError, match="the run"), thing:
        raise ValueError("the run failed")
    assert thing.stopped == [True]
    assert "after a failure failed" in caplog.text


def test_a_cleanup_that_fails_after_a_good_block_is_the_error() -> None:
    with pytest.raises(OSError, match="cleanup failed"), _Thing(stop_fails=True):
        pass
