"""How long does `hack/local-cluster.sh up --nodes N` take, and how much memory does the
running cluster hold, for N = 1, 2, 3? Each N: down, then up (warm: binaries and
images cached), then the resident memory of every process the script started (its
pid files), with no pod running. Leaves the cluster up with the last N.

    .venv/bin/python benchmarks/cluster_nodes.py --nodes 1 2 3 -k 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from common import REPO, spread

SCRIPT = REPO / "hack" / "local-cluster.sh"
STATE = Path(os.environ.get("GRACEPROOF_LOCAL_CLUSTER_DIR", REPO / ".local-cluster"))


def _script(*args: str) -> None:
    subprocess.run([str(SCRIPT), *args], check=True, capture_output=True, text=True)


def _rss_mib() -> dict[str, float]:
    """Resident memory of each started process (VmRSS), MiB."""
    out = {}
    for pid_file in sorted((STATE / "pids").glob("*.pid")):
        status = Path(f"/proc/{pid_file.read_text().strip()}/status")
        kb = next(
            int(x.split()[1]) for x in status.read_text().splitlines() if x.startswith("VmRSS")
        )
        out[pid_file.stem] = kb / 1024
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("-k", type=int, default=1, help="repetitions per node count")
    args = p.parse_args()
    up_s: dict[int, list[float]] = defaultdict(list)
    for n in args.nodes:
        for _ in range(args.k):
            _script("down")
            t0 = time.monotonic()
            _script("up", "--nodes", str(n))
            up_s[n].append(time.monotonic() - t0)
        time.sleep(20)  # let the kubelets' start-up work settle before reading memory
        rss = _rss_mib()
        per = ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
        print(f"{n} node(s): up {spread(up_s[n])}; resident {sum(rss.values()):.0f} MiB ({per})")


if __name__ == "__main__":
    main()
