"""What one Locust run did (LoadResult), read from its records files, and whether it
counts as a run at all (crash_reason, LocustCrashed)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from graceproof.errors import LoadError
from graceproof.load.settings import LoadSettings
from graceproof.model import ConnectionPolicy, RequestRecord

__all__ = [
    "LoadResult",
    "LoadTimeout",
    "LocustCrashed",
    "count_lines",
    "crash_reason",
    "load_records",
    "merge_records",
    "tail",
]

STDERR_TAIL_LINES = 40


class LocustCrashed(LoadError):
    """Locust failed by itself (no records, a traceback), as opposed to requests failing."""


class LoadTimeout(LoadError):
    """Locust did not finish within its deadline; it was killed."""


def count_lines(path: Path) -> int:
    """The lines of a file Locust appends to; 0 before it exists."""
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    """The last lines of a Locust log, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def load_records(path: Path) -> list[RequestRecord]:
    """Read a records file (one JSON object per line); a torn last line is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(RequestRecord.from_dict(json.loads(line)))
        except json.JSONDecodeError:
            continue  # only the last line can be torn, when Locust was killed mid-write
    return records


def merge_records(parts: list[Path], into: Path) -> list[RequestRecord]:
    """The records of several files (one per Locust worker), sorted by start time and
    written to `into` in one rename; the parts stay as they are."""
    records = sorted((r for part in parts for r in load_records(part)), key=lambda r: r.t)
    tmp = into.with_name(into.name + ".merging")
    tmp.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, into)
    return records


@dataclass(frozen=True)
class LoadResult:
    """What one Locust run did: its exit status and every request it made."""

    returncode: int
    records: list[RequestRecord]
    settings: LoadSettings
    duration_s: float
    port: int
    started: float
    finished: float
    stderr_tail: str = ""
    records_path: str = ""
    command: list[str] = field(default_factory=list)  # the (master) Locust's
    worker_returncodes: tuple[int, ...] = ()  # processes > 1: each worker's exit status
    # Where the load ran, when not on this host (graceproof.load.placement): its pods,
    # nodes, clock offsets and the completeness of its records.
    placement: dict[str, Any] = field(default_factory=dict)

    @property
    def connection(self) -> ConnectionPolicy:
        return self.settings.connection

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records if not r.ok)

    @property
    def late(self) -> int:
        """Open-loop arrivals that could not be sent on time (error "late")."""
        return sum(1 for r in self.records if r.late)

    def parameters(self) -> dict[str, Any]:
        """The load parameters, as a scenario result stores them (mode and rate included)."""
        settings = asdict(self.settings)
        del settings["connection"]  # a field of the result itself
        out = {
            **settings,
            "duration_s": self.duration_s,
            "port": self.port,
            "returncode": self.returncode,
        }
        if self.placement:
            out["placement"] = self.placement
        return out


def crash_reason(result: LoadResult) -> str | None:
    """Why a Locust run counts as a harness failure, or None when it ran.

    0: all requests succeeded; 1: some failed (data). Anything else, from the Locust or
    any of its workers, or no request recorded at all, means Locust itself did not work.
    """
    if result.returncode not in (0, 1):
        return f"Locust exited with {result.returncode} (not 0 or 1: it failed by itself)"
    for i, code in enumerate(result.worker_returncodes):
        if code not in (0, 1):
            return f"Locust worker {i} exited with {code} (not 0 or 1: it failed by itself)"
    if not result.records:
        crashed = "Traceback" in result.stderr_tail
        what = "Locust raised an exception" if crashed else "Locust ran"
        return f"{what} and recorded no request (exit code {result.returncode})"
    return None
