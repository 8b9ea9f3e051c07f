"""Where does a proof's time go? Run the shipped proofs K times each and print the
seconds spent in every phase (the result's `phases`), plus the namespace around it
(creation, and the teardown that deletes it): median [min, max] over the runs.

    .venv/bin/python benchmarks/phases.py -k 3

Only the measured part (warmup, disruption, terminations, settle) is the proof;
the rest is what a faster suite can cut.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from common import parser, spread
from graceproof.kube import Kube
from graceproof.namespaces import test_namespace
from graceproof.result import ClusterInfo
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads import SampleApp

MEASURED = ("warmup", "disruption", "terminations", "settle")


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("-k", type=int, default=3, help="runs of each variant")
    p.add_argument("--out", default="/tmp/graceproof-bench-phases")
    args = p.parse_args()
    kube = Kube.from_kubeconfig(args.kubeconfig)
    cluster = ClusterInfo("existing", "bench", kube.server_version())
    seconds: dict[str, list[float]] = defaultdict(list)
    for i in range(args.k):
        for variant, port in (("no-hook", 30088), ("prestop-sleep", 30089)):
            t0 = time.monotonic()
            with test_namespace(kube, "bench", f"phases-{variant}-{i}", lambda: False) as ns:
                created = time.monotonic()
                try:
                    res = run_scenario(
                        kube,
                        ns,
                        Scenario(SampleApp.variant(variant, node_port=port)),
                        image=args.image,
                        cluster=cluster,
                        out_dir=Path(args.out) / str(i),
                    )
                finally:
                    judged = time.monotonic()
            seconds["namespace"].append(created - t0)
            seconds["teardown"].append(time.monotonic() - judged)
            for phase, s in res.phases.items():
                seconds[phase].append(s)
            seconds["measured"].append(sum(res.phases.get(k, 0.0) for k in MEASURED))
            seconds["whole proof"].append(time.monotonic() - t0)
            print(f"run {i + 1}/{args.k} {variant}: {res.verdict.message}", flush=True)
    print()
    for phase, values in seconds.items():
        print(f"{phase:14s} {spread(values)}")


if __name__ == "__main__":
    main()
