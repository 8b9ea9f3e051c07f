"""`graceproof prove`: a team's manifests, kustomization or chart in; a zero-downtime
verdict out, with its negative control, a report, and an exit code:
0 proven, 1 not proven, 2 bad input (nothing is deployed then).

    graceproof prove -f deploy/ --kubeconfig kc.yaml
    graceproof prove -k deploy/overlays/prod --kind --image myapp:1.2.3
    graceproof prove --chart chart/ --set preStopSleepSeconds=5 --kubeconfig kc.yaml
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import secrets
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from graceproof.budget import Budget
from graceproof.config import KIND_NODE_IMAGES, normalize_k8s_version
from graceproof.disruptions import DISRUPTIONS, disruption_named
from graceproof.errors import (
    BadKubeconfigError,
    ClusterUnreachableError,
    GraceproofError,
    ImageNotAvailableError,
    ManifestRejectedError,
    MissingToolError,
    OptionError,
    ReportWriteError,
    TargetUnreachableError,
    WorkloadSpecError,
    WorkloadStartError,
)
from graceproof.ingress import CONTROLLERS, IngressController, controller_named
from graceproof.kube import Kube, api_message
from graceproof.kubeconfig import find_kubeconfig
from graceproof.load import HTTP_METHODS, LoadSettings
from graceproof.paths import kind_config
from graceproof.placement import InCluster, OnHost, Placement
from graceproof.placement.cluster import OFFICIAL_LOCUST_IMAGE
from graceproof.plan import plan_of
from graceproof.providers import ClusterProvider, ExistingProvider, KindProvider
from graceproof.proving import ProofOutcome, outcome_json, prove_with_control
from graceproof.report import write_report
from graceproof.result import ClusterInfo
from graceproof.sources import HelmChart, Kustomization, ManifestFiles, ManifestSource
from graceproof.traffic import kinds, traffic
from graceproof.workloads.base import NODE_PORTS
from graceproof.workloads.manifests import DEFAULT_NODE_PORT, ManifestWorkload

__all__ = ["add_parser", "add_proof_arguments", "run"]

NO_CLUSTER = (
    "no cluster: give --kubeconfig FILE, set $KUBECONFIG, have ~/.kube/config (as kubectl "
    "does), or --kind for a kind cluster made for the run; --dry-run needs none"
)

EXIT_PROVEN = 0
EXIT_NOT_PROVEN = 1
EXIT_BAD_INPUT = 2
# Found when the workload is deployed, before any load: the input is at fault.
BAD_INPUT_AT_DEPLOY = (
    BadKubeconfigError,
    ClusterUnreachableError,
    MissingToolError,
    WorkloadSpecError,
    OptionError,
    ImageNotAvailableError,
    WorkloadStartError,
    ManifestRejectedError,
    TargetUnreachableError,
)

log = logging.getLogger("graceproof")


def _statuses(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected statuses like 200,204, not {text!r}") from exc


# Argument types that check the value where argparse names the flag ("argument --users:
# must be 1 or more, not 0"), rather than a library field after parsing.
def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a whole number, not {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a number, not {text!r}") from exc
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text}")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds, not 0")
    return value


def _fraction(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"a fraction (0.001 = 0.1 %), not {text}")
    return value


def _node_port(text: str) -> int:
    """A port of the default NodePort range; kind maps only NODE_PORTS to 127.0.0.1,
    which the inputs' check holds --kind to."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a port number, not {text!r}") from exc
    if not 30000 <= value <= 32767:
        raise argparse.ArgumentTypeError(
            f"must be a NodePort (30000-32767; kind maps 30080-30089), not {value}"
        )
    return value


def _http_path(text: str) -> str:
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(f"must start with '/', not {text!r}")
    return text


def _input_args(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input (one of)")
    one = src.add_mutually_exclusive_group(required=True)
    one.add_argument(
        "-f",
        "--filename",
        type=Path,
        action="append",
        metavar="PATH",
        help="a YAML file or a folder of them (repeatable)",
    )
    one.add_argument(
        "-k",
        "--kustomize",
        type=Path,
        metavar="DIR",
        help="a kustomize folder (rendered by kubectl kustomize)",
    )
    one.add_argument(
        "--chart", type=Path, metavar="DIR", help="a Helm chart (rendered by helm template)"
    )
    src.add_argument(
        "--values",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a values file for --chart (repeatable)",
    )
    src.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value for --chart (repeatable)",
    )
    t = p.add_argument_group("target")
    t.add_argument(
        "--target",
        metavar="KIND/NAME",
        help="the Deployment or StatefulSet to disrupt, e.g. deployment/web "
        "(default: the only one)",
    )
    t.add_argument(
        "--service",
        metavar="NAME[:PORT]",
        help="the Service in front of it (default: the only one selecting its pods)",
    )
    t.add_argument(
        "--node-port",
        type=_node_port,
        default=None,
        help=f"node port of graceproof's own load Service (default: {DEFAULT_NODE_PORT}, or "
        "the next of 30080-30089 that no other Service holds, e.g. a concurrent proof's; "
        "kind maps those to 127.0.0.1)",
    )


def _run_args(p: argparse.ArgumentParser) -> None:
    load = p.add_argument_group("traffic and disruption")
    load.add_argument("--path", type=_http_path, default="/", help="HTTP path (default /)")
    load.add_argument(
        "--method", default="GET", choices=HTTP_METHODS, help="HTTP method (default GET)"
    )
    load.add_argument("--host-header", metavar="HOST", help="a Host header to send")
    load.add_argument(
        "--expect-status",
        type=_statuses,
        default=(),
        metavar="CODES",
        help="statuses that count as success, e.g. 200,204 (default: < 400)",
    )
    load.add_argument(
        "--users",
        type=_count,
        default=10,
        help="concurrent users of the load, each sending request after request (default 10)",
    )
    load.add_argument(
        "--timeout",
        type=_positive,
        default=LoadSettings.timeout_s,
        metavar="SECONDS",
        help="seconds a request may take before it counts as failed, as your clients' "
        "timeout would (default %(default)s)",
    )
    load.add_argument(
        "--connection",
        # The kinds a team's workload is loaded with here: HTTP (gRPC and WebSocket need
        # a port of their own, which graceproof's load Service does not expose).
        choices=[k for k in kinds() if traffic(k).port == "http"],
        default="new",
        help="HTTP connection policy (default new)",
    )
    load.add_argument(
        "--disruption",
        choices=sorted(DISRUPTIONS),
        default="delete-one-by-one",
        help="how the pods are terminated under load (default delete-one-by-one)",
    )
    load.add_argument(
        "--no-control",
        action="store_true",
        help="skip the negative control (the same manifests without preStop hooks)",
    )
    _path_args(load)
    _cluster_args(p)


def _path_args(load: argparse._ArgumentGroup) -> None:
    """Where the load enters: an ingress controller, the host or the cluster."""
    load.add_argument(
        "--ingress",
        choices=sorted(CONTROLLERS),
        help="load through this ingress controller, installed in the test namespace, "
        "instead of straight to the Service's NodePort",
    )
    load.add_argument(
        "--ingress-image",
        metavar="REF",
        help="the controller's image (default: its official release pinned by digest; "
        "the archive's tag when --image-archive imports one)",
    )
    load.add_argument(
        "--ingress-node-port",
        type=_node_port,
        default=30089,
        help="node port the controller takes traffic on (default 30089)",
    )
    load.add_argument(
        "--load-from",
        choices=("host", "cluster"),
        default="host",
        help="where Locust runs: on this host against a NodePort on 127.0.0.1 (kind, the "
        "local cluster), or as a master and workers in the test namespace against the "
        "Service's ClusterIP (a remote cluster) (default host)",
    )
    load.add_argument(
        "--load-workers",
        type=_count,
        default=2,
        help="--load-from cluster: worker pods (default 2)",
    )
    load.add_argument(
        "--load-image",
        metavar="REF",
        default=OFFICIAL_LOCUST_IMAGE,
        help="--load-from cluster: an image with Locust (default: the official one, "
        "pinned by digest)",
    )


def _cluster_args(p: argparse.ArgumentParser) -> None:
    c = p.add_argument_group("cluster (one of)")
    # Required unless --dry-run, which touches no cluster: checked in run().
    where = c.add_mutually_exclusive_group()
    where.add_argument(
        "--kubeconfig",
        type=Path,
        help="an existing cluster's kubeconfig (default: $KUBECONFIG, else ~/.kube/config, "
        "as kubectl finds it; read, never written)",
    )
    where.add_argument("--kind", action="store_true", help="create a kind cluster for the run")
    c.add_argument(
        "--k8s-version",
        default="1.34",
        help=f"kind: the Kubernetes minor, one of {', '.join(KIND_NODE_IMAGES)} (default 1.34)",
    )
    c.add_argument(
        "--node-image",
        default=os.environ.get("GRACEPROOF_NODE_IMAGE") or None,
        metavar="IMAGE",
        help="kind: a node image instead of the pinned one of --k8s-version, e.g. one built "
        "without a registry by hack/kind-node-image.sh (default: $GRACEPROOF_NODE_IMAGE)",
    )
    c.add_argument(
        "--context", help="the kubeconfig's context to use (default: its current-context)"
    )
    c.add_argument(
        "--cluster-name", default="graceproof", help="kind: the cluster's name (default graceproof)"
    )
    c.add_argument("--keep-cluster", action="store_true", help="kind: keep the cluster")
    c.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="REF",
        help="an image to load into the cluster (kind load; repeatable)",
    )
    c.add_argument(
        "--image-archive",
        type=Path,
        action="append",
        default=[],
        metavar="TAR",
        help="a docker-save archive to import (local cluster; repeatable)",
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        help="where results, pictures and summary.md go (default reports; never overwritten)",
    )
    p.add_argument("--run-id", default=None, help="label of what the run creates (default random)")
    p.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="text (default): the verdict in lines; json: one JSON document on stdout (the "
        "verdict, counts, bound, budget and shutdown of the run and its control, and the "
        "report's paths), progress and lines on stderr",
    )
    noise = p.add_mutually_exclusive_group()
    noise.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines, only warnings and errors"
    )
    noise.add_argument("-v", "--verbose", action="store_true", help="debug lines too")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what was found and what the proof would do, with hints, then exit "
        "without touching any cluster",
    )


def _budget_args(p: argparse.ArgumentParser) -> None:
    b = p.add_argument_group("budgets (default: no failed request at all)")
    b.add_argument(
        "--max-error-rate",
        type=_fraction,
        metavar="FRACTION",
        help="failed/total allowed, e.g. 0.001 for 0.1 %%",
    )
    b.add_argument(
        "--max-unavailable-s",
        type=_non_negative,
        metavar="S",
        help="seconds without any successful request allowed",
    )
    b.add_argument(
        "--retryable-count",
        choices=("yes", "no"),
        default="yes",
        help="whether retryable failures (closed before any byte of the answer on a reused "
        "connection, an idempotent method: what browsers and retrying clients send again) "
        "count against the verdict; the verdict names them either way (default: %(default)s)",
    )
    b.add_argument(
        "--max-p99-in-windows-s",
        type=_non_negative,
        metavar="S",
        help="p99 latency allowed inside the termination windows",
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prove",
        help="prove a workload (manifests, kustomize or a Helm chart) keeps every request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_proof_arguments(p)
    p.set_defaults(func=run)


def add_proof_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of a proof: input, traffic and disruption, cluster, budgets; `prove`
    and `explain` (graceproof.cli_explain) share them."""
    _input_args(p)
    _run_args(p)
    _budget_args(p)


def source_of(args: argparse.Namespace) -> ManifestSource:
    if (args.values or args.set) and not args.chart:
        raise OptionError("--values and --set go with --chart")
    if args.filename:
        return ManifestFiles(tuple(args.filename))
    if args.kustomize:
        return Kustomization(args.kustomize)
    return HelmChart(args.chart, values=tuple(args.values), set=tuple(args.set))


def check_writable(folder: Path) -> None:
    """OptionError unless graceproof can write in `folder` (made if missing, and removed
    again, with the parents made for it): found before a cluster is made, not after the
    proof."""
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OptionError(
            f"--report-dir {folder} cannot be written: {exc.strerror or exc}. "
            "To fix: choose a folder you can write in"
        ) from exc
    finally:
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir()


def budget_of(args: argparse.Namespace) -> Budget | None:
    """The budget the flags give, or None for the strict zero rule."""
    values = (args.max_error_rate, args.max_unavailable_s, args.max_p99_in_windows_s)
    if all(v is None for v in values):
        return None
    return Budget(*values)


def placement_of(args: argparse.Namespace) -> Placement:
    """Where the load runs, from --load-from, --load-workers and --load-image."""
    if args.load_from == "host":
        if args.load_image != OFFICIAL_LOCUST_IMAGE or args.load_workers != 2:
            raise OptionError("--load-workers and --load-image go with --load-from cluster")
        return OnHost()
    if args.ingress:
        raise OptionError(
            "--ingress goes with --load-from host: a load from the cluster enters the "
            "Service's ClusterIP and would bypass the controller"
        )
    return InCluster(workers=args.load_workers, image=args.load_image)


def ingress_of(args: argparse.Namespace) -> IngressController | None:
    """The controller --ingress names, with its image: --ingress-image, else the tag
    of an --image-archive that carries its unpinned image (a cluster that pulls
    nothing, like the local one), else its release pinned by digest."""
    if args.ingress is None:
        if args.ingress_image:
            raise OptionError("--ingress-image goes with --ingress")
        return None
    cls = CONTROLLERS[args.ingress]
    image = args.ingress_image
    if image is None:
        unpinned = cls.release_image.partition("@")[0]
        imported = {t for archive in args.image_archive for t in archive_tags(archive)}
        image = unpinned if unpinned in imported else cls.release_image
    return controller_named(args.ingress, image=image, node_port=args.ingress_node_port)


def archive_tags(path: Path) -> list[str]:
    """The image names a docker-save archive holds (its manifest.json RepoTags)."""
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.load(member) if member else []
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise OptionError(f"--image-archive {path}: not a docker-save archive ({exc})") from exc
    tags = [t for entry in manifest for t in entry.get("RepoTags") or []]
    if not tags:
        raise OptionError(f"--image-archive {path}: its manifest.json names no image (RepoTags)")
    return tags


def provider_of(args: argparse.Namespace, state: Path) -> ClusterProvider:
    """The cluster the flags name: an existing one, or kind (the pinned node image of
    --k8s-version, unless --node-image gives one)."""
    if not args.kind:
        source = find_kubeconfig(args.kubeconfig, args.context)
        if source is None:
            raise OptionError(NO_CLUSTER)
        return ExistingProvider(source_kubeconfig=source.files[0], state_dir=state, source=source)
    minor = normalize_k8s_version(args.k8s_version)
    return KindProvider(
        name=args.cluster_name,
        node_image=args.node_image or KIND_NODE_IMAGES[minor],
        node_image_given=args.node_image is not None,
        config_file=kind_config(),
        state_dir=state,
        keep=args.keep_cluster,
    )


@contextmanager
def _provider(args: argparse.Namespace) -> Iterator[ClusterProvider]:
    with (
        tempfile.TemporaryDirectory(prefix="graceproof-") as state,
        provider_of(args, Path(state)) as provider,
    ):
        yield provider


def _load_images(provider: ClusterProvider, args: argparse.Namespace) -> None:
    for image in args.image:
        log.info("loading image %s", image)
        provider.load_image(image)
    for archive in args.image_archive:
        for tag in archive_tags(archive):
            log.info("importing %s from %s", tag, archive)
            provider.load_image(tag, archive)


def _prove(
    args: argparse.Namespace, workload: ManifestWorkload, hints: tuple[str, ...] = ()
) -> ProofOutcome:
    load = LoadSettings(
        users=args.users,
        timeout_s=args.timeout,
        connection=args.connection,
        path=args.path,
        method=args.method,
        host_header=args.host_header,
        expect_status=args.expect_status,
    )
    run_id = args.run_id or secrets.token_hex(3)
    with _provider(args) as provider, Kube.from_kubeconfig(provider.kubeconfig) as kube:
        _load_images(provider, args)
        cluster = ClusterInfo(provider.kind, provider.name, kube.server_version())
        outcome = prove_with_control(
            kube,
            workload,
            disruption=disruption_named(args.disruption),
            load=load,
            run_id=run_id,
            cluster=cluster,
            out_dir=args.report_dir,
            control=not args.no_control,
            budget=budget_of(args),
            ingress=ingress_of(args),
            placement=placement_of(args),
            count_retryable=args.retryable_count == "yes",
        )
    results = [r for r in (outcome.control, outcome.hooked) if r is not None]
    # -o json: the document alone on stdout; the verdict lines join the progress on stderr.
    lines = sys.stderr if args.output == "json" else sys.stdout
    # The verdict first: a report that cannot be written (a full disk) must not hide it.
    for line in [*outcome.lines(), *(f"hint: {h}" for h in hints)]:
        print(line, file=lines)
    report = write_report(results, args.report_dir)
    print(f"report: {report.summary}", file=lines)
    if args.output == "json":
        doc = outcome_json(outcome, args.report_dir, report.summary)
        print(json.dumps({**doc, "hints": list(hints)}, indent=2))
    return outcome


def run(args: argparse.Namespace) -> int:
    # -q: warnings and errors only (hints stay: they are warnings); -v: debug lines too.
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="graceproof %(asctime)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)  # fmt: skip
    try:
        source = source_of(args)
        log.info("rendering %s", source.describe())
        workload = ManifestWorkload.load(
            source, target=args.target, service=args.service, node_port=args.node_port
        )
        r = workload.resolved
        log.info(
            "target %s behind %s (targetPort %s); %d preStop hook(s)",
            r.workload.ref,
            r.service.ref,
            r.target_port,
            r.hooks,
        )
        # Bad traffic settings: exit 2 now.
        LoadSettings(users=args.users, path=args.path, timeout_s=args.timeout)
        budget_of(args)  # and bad budgets
        ingress_of(args)  # and a bad controller choice
        placement_of(args)  # and bad load placement flags
    except (WorkloadSpecError, OptionError, ValueError, MissingToolError) as exc:
        print(f"graceproof prove: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    plan = plan_of(r, disruption=disruption_named(args.disruption), control=not args.no_control)
    if args.dry_run:
        print(plan.text())
        return EXIT_PROVEN
    # The cluster last among the inputs: the manifests' and flags' mistakes come first.
    try:
        if args.kind and args.context:
            raise OptionError("--context applies to an existing cluster, not to --kind")
        if args.kind and args.node_port is not None and args.node_port not in NODE_PORTS:
            raise OptionError(
                f"--node-port {args.node_port}: kind maps only {NODE_PORTS.start}-"
                f"{NODE_PORTS.stop - 1} to 127.0.0.1; choose one of those"
            )
        if not args.kind and find_kubeconfig(args.kubeconfig, args.context) is None:
            raise OptionError(NO_CLUSTER)
        check_writable(args.report_dir)
    except OptionError as exc:
        print(f"graceproof prove: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for hint in plan.hints:
        log.warning("hint: %s", hint)
    try:
        outcome = _prove(args, workload, plan.hints)
    except BAD_INPUT_AT_DEPLOY as exc:
        print(f"graceproof prove: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ReportWriteError as exc:  # the verdict is out; its record is not complete
        print(f"graceproof prove: {exc}", file=sys.stderr)
        return EXIT_NOT_PROVEN
    except GraceproofError as exc:
        print(f"graceproof prove: not proven: {exc}", file=sys.stderr)
        return EXIT_NOT_PROVEN
    except ApiException as exc:  # e.g. 403: this user may not create namespaces
        print(
            f"graceproof prove: the API server refused (HTTP {exc.status}): {api_message(exc)}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_PROVEN if outcome.proven else EXIT_NOT_PROVEN
