"""How often does each verdict come out as expected? Repeat the pair no-hook (the
negative control) / a hooked variant K times under each disruption given, and print the
tally, the failures per run, and the wall time of one proof next to the time the
disruption itself took. Every result is written (JSON) under --out, so that
benchmarks/repeatability.py tallies these runs with any others:

    .venv/bin/python benchmarks/verdicts.py -k 5
    .venv/bin/python benchmarks/verdicts.py -k 10 --disruptions delete-one-by-one scale-down
    .venv/bin/python benchmarks/verdicts.py -k 10 --only control
    .venv/bin/python benchmarks/repeatability.py /tmp/graceproof-bench reports/

A control here is judged once, as the suite's `prove` fixture would judge its last
attempt: a control that reproduced nothing is counted as not detected, never retried.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

from common import namespace, parser, spread
from graceproof.disruptions import disruption_named
from graceproof.kube import Kube
from graceproof.result import ClusterInfo
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads import SampleApp

# The hooked variant each disruption is proven with (the suite's pairs).
HOOKED = {
    "delete-one-by-one": "prestop-sleep",
    "rollout-restart": "prestop-sleep",
    "scale-down": "prestop-exec",
}


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("-k", type=int, default=5, help="repetitions of each pair")
    p.add_argument("--disruptions", nargs="+", default=list(HOOKED), choices=list(HOOKED))
    p.add_argument(
        "--only", choices=("control", "hooked"), help="run one side of each pair (default both)"
    )
    p.add_argument("--out", default="/tmp/graceproof-bench")
    args = p.parse_args()
    sides = {"control": 0, "hooked": 1}
    kube = Kube.from_kubeconfig(args.kubeconfig)
    cluster = ClusterInfo("existing", "bench", kube.server_version())
    tally: Counter[str] = Counter()
    wall: dict[str, list[float]] = defaultdict(list)
    disruption_s: dict[str, list[float]] = defaultdict(list)
    failed: dict[str, list[int]] = defaultdict(list)
    for i in range(args.k):
        for kind in args.disruptions:
            pair = (("no-hook", 30088), (HOOKED[kind], 30089))
            for variant, port in pair if args.only is None else pair[sides[args.only] :][:1]:
                key = f"{variant} / {kind}"
                out = Path(args.out) / kind / f"{args.only or 'pair'}-{i}"
                t0 = time.monotonic()
                with namespace(kube, f"{variant}-{kind}-{i}") as ns:
                    res = run_scenario(
                        kube,
                        ns,
                        Scenario(
                            SampleApp.variant(variant, node_port=port),
                            disruption=disruption_named(kind),
                        ),
                        image=args.image,
                        cluster=cluster,
                        out_dir=out,
                    )
                res.write_json(out)
                wall[key].append(time.monotonic() - t0)
                d = res.disruption
                disruption_s[key].append((d.finished or d.started) - d.started)
                failed[key].append(res.counts.failed_in_windows)
                tally[key] += int(res.verdict.passed)
                print(f"run {i + 1}/{args.k} {key}: {res.verdict.message}", flush=True)
    print()
    for key in wall:
        print(
            f"{key:32s} verdict as expected {tally[key]}/{args.k}; "
            f"failed inside windows per run {failed[key]}"
        )
        print(f"{'':32s} wall time of one proof      {spread(wall[key])}")
        print(f"{'':32s} the disruption itself took  {spread(disruption_s[key])}")


if __name__ == "__main__":
    main()
