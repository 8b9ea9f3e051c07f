"""The measured order of one pod's termination, and the grace-period overrun.

For N deletions of a pod with a preStop exec hook (sleep S), the seconds from the
delete call to each step; then N deletions of a pod whose hook outlasts its grace
period, with the app ignoring SIGTERM: when SIGTERM and SIGKILL came.

    .venv/bin/python benchmarks/termination_order.py -n 5
"""

from __future__ import annotations

from common import namespace, parser, spread
from graceproof.kube import Kube
from graceproof.termination import ORDER, observe_termination
from graceproof.workloads import render_pod, render_service


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("-n", type=int, default=5)
    p.add_argument("--sleep", type=int, default=3)
    p.add_argument("--grace", type=int, default=4)
    p.add_argument("--fresh", action="store_true", help="delete right after Ready instead")
    args = p.parse_args()
    kube = Kube.from_kubeconfig(args.kubeconfig)
    steps: dict[str, list[float]] = {k: [] for k in ORDER[1:]}
    overrun: dict[str, list[float]] = {
        "kill starts (hook)": [],
        "SIGTERM": [],
        "SIGKILL": [],
        "SIGTERM - kill start": [],
        "SIGKILL - SIGTERM": [],
    }
    with namespace(kube, "order") as ns:
        for i in range(args.n):
            name = f"order-{i}"
            svc = render_service(name)
            pod = render_pod("prestop-exec", name=name, image=args.image, sleep_seconds=args.sleep)
            # Deleted 5 s after Ready: a pod deleted right after it became Ready waits
            # ~1.7 s longer before the kubelet starts killing (measured, README).
            trace = observe_termination(
                kube, ns, pod, service=svc, running_for=0 if args.fresh else 5
            )
            for k, v in trace.figures().items():
                if v is not None:
                    steps[k].append(v)
            name = f"overrun-{i}"
            pod = render_pod(
                "prestop-exec",
                name=name,
                image=args.image,
                grace_seconds=args.grace,
                sleep_seconds=30,
                shutdown_mode="ignore",
            )
            trace = observe_termination(kube, ns, pod, running_for=0 if args.fresh else 5)
            hook, term = trace.since_deletion("hook_start"), trace.since_deletion("sigterm")
            beat = trace.last("app_heartbeat")
            if hook is None or term is None or beat is None:
                print(f"run {i}: incomplete overrun trace")
                continue
            kill = beat.t - trace.deleted_at
            for k, v in (
                ("kill starts (hook)", hook),
                ("SIGTERM", term),
                ("SIGKILL", kill),
                ("SIGTERM - kill start", term - hook),
                ("SIGKILL - SIGTERM", kill - term),
            ):
                overrun[k].append(v)
            print(f"run {i + 1}/{args.n} done", flush=True)
    print(f"\npreStop exec sleep {args.sleep}s, grace 30s: seconds after the delete call")
    for k, v in steps.items():
        print(f"  {k:22s} {spread(v)}")
    print(
        f"\ngrace {args.grace}s, preStop sleep 30s, app ignores SIGTERM: "
        "seconds after the delete call"
    )
    for k, v in overrun.items():
        print(f"  {k:22s} {spread(v)}")


if __name__ == "__main__":
    main()
