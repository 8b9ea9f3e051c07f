"""Which tests fail now and then? Run a pytest suite N times in a row and print, per
test that failed at least once, how many runs it failed and its first message.

    .venv/bin/python benchmarks/flaky.py -n 10                 # the unit suite
    .venv/bin/python benchmarks/flaky.py -n 3 --load 2         # with 2 busy cores beside it
    make flaky N=10

A timing-sensitive test fails only on a loaded machine once in a while; one CI run
rarely shows it, ten runs usually do. `--load K` keeps K processes spinning beside the
suite, as a build running next to CI would. The exit code is 1 when any test failed in
any run, so this can gate a change; no timing is asserted, figures are only printed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def spin() -> None:
    while True:  # a busy core; the parent terminates it
        pass


@contextmanager
def busy_cores(k: int) -> Iterator[None]:
    procs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(k)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
            p.join()


def failures(junit: Path) -> dict[str, str]:
    """test id -> first line of its failure or error message, from a JUnit XML file."""
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        for bad in (*case.findall("failure"), *case.findall("error")):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            message = (bad.get("message") or bad.text or "").strip().splitlines()
            out.setdefault(name, message[0][:160] if message else "(no message)")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=10, help="runs of the suite (default 10)")
    p.add_argument("--load", type=int, default=0, help="busy processes beside it (default 0)")
    p.add_argument("paths", nargs="*", default=["tests/unit"], help="what pytest runs")
    args = p.parse_args()
    failed_runs: Counter[str] = Counter()
    first_message: dict[str, str] = {}
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, busy_cores(args.load):
        for i in range(1, args.n + 1):
            junit = Path(tmp) / f"run-{i}.xml"
            t0 = time.monotonic()
            run = subprocess.run(
                [sys.executable, "-m", "pytest", *args.paths, "-q", "-p", "no:cacheprovider",
                 f"--junitxml={junit}"],
                cwd=REPO, capture_output=True, text=True, check=False,
            )  # fmt: skip
            seconds.append(time.monotonic() - t0)
            if not junit.exists():
                print(f"run {i}: pytest exited {run.returncode} without a report:")
                print(run.stdout[-2000:], run.stderr[-2000:])
                return 1
            found = failures(junit)
            for name, message in found.items():
                failed_runs[name] += 1
                first_message.setdefault(name, message)
            tail = run.stdout.strip().splitlines()[-1:] or [""]
            print(f"run {i}/{args.n}: {seconds[-1]:.0f} s, {tail[0]}", flush=True)
            for name, message in found.items():  # at once: a long series can be stopped
                print(f"    {name}: {message}", flush=True)
    print(f"\n{args.n} runs of {' '.join(args.paths)} with {args.load} busy processes beside it")
    if not failed_runs:
        print("no test failed in any run")
        return 0
    print(f"{'failed runs':>11}  test and first message")
    for name, count in failed_runs.most_common():
        print(f"{count:>5} of {args.n:<3}  {name}\n             {first_message[name]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
