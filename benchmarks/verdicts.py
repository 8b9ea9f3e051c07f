"""How often does each verdict come out as expected? Repeat the pair no-hook /
preStop-sleep K times under delete-one-by-one and print the tally, and the wall time
of one proof next to the time the disruption itself took.

    .venv/bin/python benchmarks/verdicts.py -k 5
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from common import namespace, parser, spread
from graceproof.kube import Kube
from graceproof.result import ClusterInfo
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads import SampleApp


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("-k", type=int, default=5, help="repetitions of the pair")
    p.add_argument("--out", default="/tmp/graceproof-bench")
    args = p.parse_args()
    kube = Kube.from_kubeconfig(args.kubeconfig)
    cluster = ClusterInfo("existing", "bench", kube.server_version())
    tally: Counter[str] = Counter()
    wall: dict[str, list[float]] = {"no-hook": [], "prestop-sleep": []}
    disruption: dict[str, list[float]] = {"no-hook": [], "prestop-sleep": []}
    failed: dict[str, list[int]] = {"no-hook": [], "prestop-sleep": []}
    for i in range(args.k):
        for variant in ("no-hook", "prestop-sleep"):
            t0 = time.monotonic()
            with namespace(kube, f"{variant}-{i}") as ns:
                res = run_scenario(
                    kube,
                    ns,
                    Scenario(
                        SampleApp.variant(
                            variant, node_port=30088 if variant == "no-hook" else 30089
                        )
                    ),
                    image=args.image,
                    cluster=cluster,
                    out_dir=Path(args.out) / f"{i}",
                )
            wall[variant].append(time.monotonic() - t0)
            d = res.disruption
            disruption[variant].append((d.finished or d.started) - d.started)
            failed[variant].append(res.counts.failed)
            tally[
                f"{variant} as expected" if res.verdict.passed else f"{variant} NOT as expected"
            ] += 1
            print(f"run {i + 1}/{args.k} {variant}: {res.verdict.message}", flush=True)
    print()
    for variant in wall:
        ok = tally[f"{variant} as expected"]
        print(
            f"{variant:14s} verdict as expected {ok}/{args.k}; "
            f"failed requests per run {failed[variant]}"
        )
        print(f"{'':14s} wall time of one proof      {spread(wall[variant])}")
        print(f"{'':14s} the disruption itself took  {spread(disruption[variant])}")


if __name__ == "__main__":
    main()
