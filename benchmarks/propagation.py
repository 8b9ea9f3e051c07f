"""The propagation lag of each traffic path over many terminations, and the preStop
sleep it calls for: the sample app with a 10 s preStop sleep (so every pod keeps
answering until the path lets go), 2 replicas deleted one by one, K runs per path:
kube-proxy alone (NodePort), then Traefik in front of it.

    .venv/bin/python benchmarks/propagation.py -k 5 --traefik-archive "$(hack/ingress.sh)"
"""

from __future__ import annotations

from pathlib import Path

from common import namespace, parser, spread
from graceproof.hooks import SleepHook
from graceproof.ingress import TRAEFIK_IMAGE, ThroughIngress, Traefik
from graceproof.kube import Kube
from graceproof.propagation import Lag, Propagation
from graceproof.providers.existing import ExistingProvider
from graceproof.result import ClusterInfo
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads import SampleApp, Workload


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("-k", type=int, default=5, help="runs per path (2 terminations each)")
    p.add_argument("--traefik-archive", type=Path, required=True)
    p.add_argument("--out", default="/tmp/graceproof-bench-propagation")
    args = p.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    provider = ExistingProvider(source_kubeconfig=args.kubeconfig, state_dir=Path(args.out))
    provider.start()
    provider.load_image(TRAEFIK_IMAGE, args.traefik_archive)
    try:
        kube = Kube.from_kubeconfig(args.kubeconfig)
        cluster = ClusterInfo("existing", "bench", kube.server_version())
        paths: dict[str, Workload] = {
            "kube-proxy": SampleApp(SleepHook(10), replicas=2, node_port=30080),
            "traefik": ThroughIngress(
                SampleApp(SleepHook(10), replicas=2, node_port=30081), Traefik(node_port=30082)
            ),
        }
        for name, workload in paths.items():
            lags: list[Lag] = []
            for i in range(args.k):
                with namespace(kube, f"lag-{name}-{i}") as ns:
                    res = run_scenario(
                        kube,
                        ns,
                        Scenario(workload),
                        image=args.image,
                        cluster=cluster,
                        out_dir=Path(args.out) / name,
                    )
                got = res.propagation.lags if res.propagation else []
                lags += got
                print(
                    f"{name} run {i + 1}/{args.k}: {[round(x.seconds, 2) for x in got]}", flush=True
                )
            p_all = Propagation(lags)
            print(f"{name:10s} {p_all.describe()}; lag {spread(p_all.seconds)}")
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
