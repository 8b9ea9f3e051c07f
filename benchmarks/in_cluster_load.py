"""The in-cluster load's rate against its number of workers, and a worker's requests per
CPU-second: Locust master and W workers as pods (graceproof's load image), loading the
sample app's ClusterIP (2 replicas, no disruption) closed-loop with U users per worker
for S seconds; then the same scenario's proof (a hooked deletion) with the load on the
host and in the cluster, side by side. On the local cluster every pod, the app and the
load share this machine's cores: the rate stops growing where they run out.

    .venv/bin/python benchmarks/in_cluster_load.py --workers 1 2 4 -k 2 \\
        --load-archive "$(hack/images.sh --no-import --print load)"
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from common import namespace, parser
from graceproof.hooks import NoHook, SleepHook
from graceproof.kube import Kube
from graceproof.load import LoadSettings
from graceproof.placement import InCluster, LoadContext, OnHost, Placement
from graceproof.providers.existing import ExistingProvider
from graceproof.result import ClusterInfo
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads import SampleApp
from graceproof.workloads.base import DeployContext

LOAD_IMAGE = "graceproof/load:0.1.0"


def rate_run(kube: Kube, image: str, workers: int, users: int, seconds: int, out: Path) -> Any:
    with namespace(kube, f"rate-{workers}") as ns:
        app = SampleApp(NoHook(), replicas=2, node_port=None, shutdown_mode="drain")
        target = app.deploy(DeployContext(kube, ns, image))
        settings = LoadSettings(users=users * workers, wait_s=0.0)
        ctx = LoadContext(kube, ns, target, settings, seconds + 30, out / f"rate-{workers}.jsonl")
        with InCluster(workers=workers, image=LOAD_IMAGE).runner(ctx) as run:
            run.wait_for_records(1)
            time.sleep(seconds)
            run.stop()
            result = run.wait()
    return result


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--users", type=int, default=8, help="users per worker")
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("-k", type=int, default=2, help="runs per worker count")
    p.add_argument("--load-archive", type=Path, required=True)
    p.add_argument("--out", default="/tmp/graceproof-bench-in-cluster")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    provider = ExistingProvider(source_kubeconfig=args.kubeconfig, state_dir=out)
    provider.start()
    provider.load_image(f"docker.io/{LOAD_IMAGE}", args.load_archive)
    try:
        kube = Kube.from_kubeconfig(args.kubeconfig)
        print("workers  requests/s  requests per worker CPU-second  worker CPU s")
        for workers in args.workers:
            for i in range(args.k):
                r = rate_run(kube, args.image, workers, args.users, args.seconds, out / str(i))
                placement = r.placement
                cpu = [v for pod, v in placement["cpu_s"].items() if "worker" in pod and v]
                per_cpu = len(r.records) / sum(cpu) if cpu else float("nan")
                print(
                    f"{workers:7d}  {placement['rate_reached']:10.0f}  {per_cpu:30.0f}  "
                    f"{[round(c, 1) for c in cpu]} (records {placement['records']})",
                    flush=True,
                )
        cluster = ClusterInfo("existing", "bench", kube.server_version())
        placements: dict[str, Placement] = {
            "host": OnHost(),
            "cluster": InCluster(workers=2, image=LOAD_IMAGE),
        }
        for name, placement in placements.items():
            for i in range(args.k):
                with namespace(kube, f"proof-{name}-{i}") as ns:
                    res = run_scenario(
                        kube,
                        ns,
                        Scenario(
                            SampleApp(SleepHook(5), replicas=2, node_port=30080),
                            placement=placement,
                        ),
                        image=args.image,
                        cluster=cluster,
                        out_dir=out / f"proof-{name}",
                    )
                c = res.counts
                p99 = res.measures.latency_in_windows if res.measures else None
                print(
                    f"proof, load on the {name}: {c.failed} of {c.total} failed, {c.in_windows} "
                    f"in {c.windows} windows, bound {res.stats['in_windows'].describe()}, "
                    f"p99 in windows {p99.p99 * 1000 if p99 else float('nan'):.0f} ms",
                    flush=True,
                )
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
