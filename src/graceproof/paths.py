"""Where graceproof's own files are: the source checkout's folders, when there is one."""

from __future__ import annotations

from pathlib import Path

# src/graceproof/paths.py -> the repository root of a source checkout.
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def repo_workloads_dir() -> Path | None:
    """The workloads/ folder of a source checkout, or None when installed from a wheel."""
    candidate = SOURCE_ROOT / "workloads"
    return candidate if candidate.is_dir() else None
