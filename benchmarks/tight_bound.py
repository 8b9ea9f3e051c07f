"""A proof tight enough for a bound below 0.01 %: after zero failures the bound is
about 3/n for n requests inside the termination windows, so n must pass 30,000.

The sample app with a long preStop sleep, its replicas deleted one by one, loaded from
this host: the windows add up (a window is the hook plus the app's exit), and the host's
Locust keeps sending through them. Per run it prints the requests inside the windows,
their bound, the windows' total length, the rate inside them, and what the generator
cost: Locust's CPU seconds (its processes' own, from getrusage once they are reaped) and
the whole machine's CPU use over the load (from /proc/stat), since on 2 cores the app,
the cluster and the load share them.

    .venv/bin/python benchmarks/tight_bound.py -k 2          # 3 replicas, preStop sleep 20 s
    .venv/bin/python benchmarks/tight_bound.py --sleep 10 --replicas 4 --users 20
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from common import namespace, parser
from graceproof.hooks import SleepHook
from graceproof.kube import Kube
from graceproof.load import LoadSettings
from graceproof.result import ClusterInfo, ScenarioResult
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads import SampleApp


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def union_s(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one span: the windows of pods deleted one by one
    overlap (the next is deleted once the replacement is ready, not once the last is
    gone), and a request inside two windows is counted once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def one_run(kube: Kube, args: object, i: int) -> tuple[ScenarioResult, float, float]:
    """The proof, with Locust's CPU seconds and the machine's busy share over it."""
    a = vars(args)
    scenario = Scenario(
        SampleApp(
            SleepHook(a["sleep"]),
            replicas=a["replicas"],
            node_port=30080,
            shutdown_mode=a["shutdown_mode"],
        ),
        load=LoadSettings(
            users=a["users"], wait_s=0.0, processes=a["processes"], connection=a["connection"]
        ),
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = busy_jiffies()
    with namespace(kube, f"tight-{i}") as ns:
        res = run_scenario(
            kube,
            ns,
            scenario,
            image=a["image"],
            cluster=ClusterInfo("existing", "bench", kube.server_version()),
            out_dir=Path(a["out"]),
        )
    res.write_json(Path(a["out"]))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy1, total1 = busy_jiffies()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res, cpu, (busy1 - busy0) / max(1, total1 - total0)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("-k", type=int, default=1, help="runs")
    p.add_argument("--sleep", type=int, default=20, help="preStop sleep, seconds")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--processes", type=int, default=1, help="Locust processes on the host")
    p.add_argument("--connection", default="new", choices=("new", "keepalive"))
    p.add_argument("--shutdown-mode", default="immediate", choices=("immediate", "drain"))
    p.add_argument("--out", default="/tmp/graceproof-bench-tight")
    args = p.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    kube = Kube.from_kubeconfig(args.kubeconfig)
    print(
        f"sample app ({args.shutdown_mode} shutdown), preStop sleep {args.sleep} s, "
        f"{args.replicas} replicas deleted one by one; host load, {args.users} users, "
        f"{args.connection} connections, {args.processes} Locust process(es), "
        f"{os.cpu_count()} cores"
    )
    print(
        "| run | verdict | failed / in windows | bound (95 %) | windows (union), s | requests/s in "
        "windows | Locust CPU s | requests per Locust CPU-s | machine busy |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for i in range(args.k):
        res, cpu, busy = one_run(kube, args, i)
        c = res.counts
        span = union_s([(w.start, w.end) for w in res.windows])
        print(
            f"| {i + 1} | {'PASS' if res.verdict.passed else 'FAIL'} | "
            f"{c.failed_in_windows} / {c.in_windows:,} | "
            f"{res.stats['in_windows'].describe()} | {span:.1f} | "
            f"{c.in_windows / span if span else float('nan'):,.0f} | {cpu:.1f} | "
            f"{c.total / cpu if cpu else float('nan'):,.0f} | {busy:.0%} |",
            flush=True,
        )
        if not res.verdict.passed:
            print(f"  {res.verdict.message}")


if __name__ == "__main__":
    main()
