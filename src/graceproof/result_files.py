"""The files of a report folder: the name each result takes there, and writing a file
whole or not at all (results, summaries).

Reading results back is the schema's (graceproof.result.load_json, load_results): it
needs ScenarioResult, and ScenarioResult needs this module to write itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from graceproof.errors import GraceproofError, ReportWriteError

__all__ = ["RESERVED_SUFFIX", "reserve_name", "safe_name", "write_file_whole"]

# The request log of a result: creating it reserves the result's name.
RESERVED_SUFFIX = ".requests.jsonl"


def safe_name(text: str) -> str:
    """`text` as a file stem: runs of other characters than letters, digits, `._-` as `_`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "scenario"


def reserve_name(directory: Path, scenario_id: str) -> str:
    """A file stem for a new result of `scenario_id` in `directory`, taken by creating
    `<stem>.requests.jsonl` exclusively (so two runs, even in two processes, never get
    the same one): the scenario id, else `<id>--2`, `<id>--3`, ... when a result of
    that name is already there."""
    directory.mkdir(parents=True, exist_ok=True)
    base = safe_name(scenario_id)
    for n in range(1, 10_000):
        stem = base if n == 1 else f"{base}--{n}"
        if (directory / f"{stem}.json").exists():
            continue
        try:
            fd = os.open(directory / f"{stem}{RESERVED_SUFFIX}", os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return stem
    raise GraceproofError(f"{directory} holds 10,000 results of {scenario_id}; clean it up")


def write_file_whole(path: Path, text: str) -> None:
    """Write `path` whole or not at all: through a temporary file beside it, renamed into
    place, so a full disk or a kill mid-write never leaves half a file (nor half
    replaces an earlier one). ReportWriteError, naming the file and the cause, when it
    cannot be written. The file gets the mode a plain open() gives (0666 less the
    umask), as the other report files have."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_beside(path)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise ReportWriteError(
            f"could not write {path}: {exc.strerror or exc}; the files written before it "
            "are kept. To fix: free space or choose a writable folder (--report-dir, "
            "--gp-report-dir)"
        ) from exc


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, exclusively created temporary file beside `path`. Not tempfile.mkstemp:
    its files are 0600; with mode 0666 here the kernel applies the umask, as for open(),
    without reading the umask (os.umask can only be read by changing it, for every
    thread)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")
