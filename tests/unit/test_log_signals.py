"""graceproof.log_signals: the signal a container's process logged (nginx's notice)."""

from __future__ import annotations

import calendar

import pytest

from graceproof.log_signals import signal_line


@pytest.mark.parametrize(
    ("line", "name", "number"),
    [
        (
            b"2026/12/06 18:30:01 [notice] 1#1: signal 15 (SIGTERM) received from 1, exiting",
            "SIGTERM",
            15,
        ),
        (
            b"2026/12/06 18:30:01 [notice] 1#1: signal 3 (SIGQUIT) received from 1, shutting down "
            b"\n",
            "SIGQUIT",
            3,
        ),
        (b"2026/12/06 18:30:01 [notice] 7#7: signal 15 (SIGTERM) received, exiting", "SIGTERM", 15),
    ],
)
def test_nginx_notices_give_the_signal_and_its_second(line: bytes, name: str, number: int) -> None:
    got = signal_line(line)
    assert got is not None
    assert (got.name, got.number) == (name, number)
    assert got.t == calendar.timegm((2026, 12, 6, 18, 30, 1, 0, 0, 0))


@pytest.mark.parametrize(
    "line",
    [
        b"2026/12/06 18:30:01 [notice] 1#1: exiting",
        b"2026/12/06 18:30:01 [notice] 1#1: signal process started",
        b'{"event": "sigterm", "t": 1.0}',
        b"",
    ],
)
def test_other_lines_give_none(line: bytes) -> None:
    assert signal_line(line) is None


def test_a_workers_exit_is_a_signal_too_and_named_as_such() -> None:
    # The master gets SIGCHLD as its workers exit: logged like the stop signal, so a
    # reader picks the stop signal by name, not as "the signal" of the container.
    got = signal_line(b"2026/12/06 18:30:01 [notice] 1#1: signal 17 (SIGCHLD) received from 44")
    assert got is not None and (got.name, got.number) == ("SIGCHLD", 17)
