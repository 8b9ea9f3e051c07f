"""The flags of `graceproof prove`: their groups, help and argument types.

What the flags mean (the workload source, the cluster's Options, the budget, where the
load runs) is graceproof.cli_prove_inputs; running the proof is graceproof.cli_prove.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from graceproof.disruptions import DISRUPTIONS
from graceproof.ingress import CONTROLLERS, GATEWAYS
from graceproof.load import HTTP_METHODS, LoadSettings
from graceproof.placement import OFFICIAL_LOCUST_IMAGE, PLACEMENTS
from graceproof.providers.kind_release import (
    DEFAULT_CLUSTER_NAME,
    DEFAULT_K8S_VERSION,
    KIND_NODE_IMAGES,
)
from graceproof.traffic import kinds, traffic
from graceproof.workloads.manifests import DEFAULT_NODE_PORT

__all__ = ["declare_arguments"]


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
        # The kinds a team's workload is loaded with here: HTTP (gRPC, WebSocket and SSE
        # need a port of their own, which graceproof's load Service does not expose, and
        # SSE a server that ends its streams with the sample app's `end` event).
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
        "--gateway",
        choices=sorted(GATEWAYS),
        help="load through this Gateway API controller instead (a Gateway and an "
        "HTTPRoute in place of an Ingress; the cluster needs Gateway API's CRDs), "
        "installed in the test namespace; not with --ingress",
    )
    load.add_argument(
        "--gateway-image",
        metavar="REF",
        help="the Gateway controller's image (default: as --ingress-image's)",
    )
    load.add_argument(
        "--gateway-node-port",
        type=_node_port,
        default=30089,
        help="node port the Gateway controller takes traffic on (default 30089)",
    )
    load.add_argument(
        "--load-from",
        choices=PLACEMENTS.names(),
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
    # The kind flags default to None: the defaults are kind's own (kind_release), applied
    # where every way in gets them, build_options and KindProvider.check_options.
    c.add_argument(
        "--k8s-version",
        help=f"kind: the Kubernetes minor, one of {', '.join(KIND_NODE_IMAGES)} "
        f"(default {DEFAULT_K8S_VERSION})",
    )
    c.add_argument(
        "--node-image",
        metavar="IMAGE",
        help="kind: a node image instead of the pinned one of --k8s-version, e.g. one built "
        "without a registry by hack/kind-node-image.sh (default: $GRACEPROOF_NODE_IMAGE)",
    )
    c.add_argument(
        "--context", help="the kubeconfig's context to use (default: its current-context)"
    )
    c.add_argument(
        "--cluster-name", help=f"kind: the cluster's name (default {DEFAULT_CLUSTER_NAME})"
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


def declare_arguments(p: argparse.ArgumentParser) -> None:
    """Every flag of `graceproof prove`, in --help's order."""
    _input_args(p)
    _run_args(p)
    _budget_args(p)
