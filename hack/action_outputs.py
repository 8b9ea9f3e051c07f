"""The outputs of the composite action (action.yml), from `graceproof prove -o json`.

    python hack/action_outputs.py VERDICT_JSON EXIT_STATUS

prints `name=value` lines for $GITHUB_OUTPUT (hack/action.sh appends them):

  verdict     proven, not-proven or error (no verdict: bad input, exit status 2)
  failed      failed requests of the workload's run (with its hooks)
  in-windows  requests of that run sent inside the termination windows
  bound       its error rate with the 95 % confidence bound, e.g. "< 0.06% (95%, rule
              of three)" when none failed, "0.06% [0.01%, 0.2%] (95% CI)" otherwise

VERDICT_JSON is graceproof's stdout. It is empty or not JSON when graceproof stopped
before a verdict (exit 2, or 1 on an error mid-run): then the figures are empty and the
verdict follows the exit status. Run by the venv's own python: stdlib only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VERDICTS = {0: "proven", 1: "not-proven"}


def _document(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _one_line(value: object) -> str:
    # A newline would end the value early in $GITHUB_OUTPUT's name=value format.
    return "" if value is None else " ".join(str(value).split())


def outputs(doc: dict[str, Any] | None, status: int) -> dict[str, str]:
    """The outputs for graceproof's JSON document (None if it printed none) and exit status."""
    if doc is None or not isinstance(doc.get("hooked"), dict):
        return {
            "verdict": VERDICTS.get(status, "error"),
            "failed": "",
            "in-windows": "",
            "bound": "",
        }
    hooked = doc["hooked"]
    counts = hooked.get("counts") or {}
    bound = hooked.get("bound") or {}
    return {
        "verdict": "proven" if doc.get("proven") is True else "not-proven",
        "failed": _one_line(counts.get("failed")),
        "in-windows": _one_line(counts.get("in_windows")),
        "bound": _one_line(bound.get("text")),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].lstrip("-").isdigit():
        print(
            "usage: python hack/action_outputs.py VERDICT_JSON EXIT_STATUS "
            f"(got {' '.join(argv) or 'no arguments'})",
            file=sys.stderr,
        )
        return 2
    for name, value in outputs(_document(Path(argv[0])), int(argv[1])).items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
