"""What the flags of `graceproof prove` mean: the workload's source, the cluster's
`Options` and provider, the budget, the ingress controller and where the load runs.

Each function turns flags into one of graceproof's values, or raises OptionError
naming the flag; `graceproof prove` calls them all before it deploys anything, so a
bad input exits 2 with nothing made.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graceproof.budget import Budget
from graceproof.cli_options import existing_options, kind_options
from graceproof.config import Options
from graceproof.errors import OptionError
from graceproof.ingress import (
    CONTROLLERS,
    GATEWAYS,
    IngressController,
    controller_named,
    gateway_named,
)
from graceproof.placement import OFFICIAL_LOCUST_IMAGE, InCluster, OnHost, Placement
from graceproof.providers import ClusterProvider, make_provider
from graceproof.sources import HelmChart, Kustomization, ManifestFiles, ManifestSource
from graceproof.workloads.base import NODE_PORTS

__all__ = [
    "archive_tags",
    "budget_of",
    "check_writable",
    "cluster_of",
    "cluster_options_of",
    "ingress_of",
    "load_images",
    "log_progress",
    "options_of",
    "placement_of",
    "provider_of",
    "source_of",
]

log = logging.getLogger("graceproof")


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
    for flag, value in (("--ingress", args.ingress), ("--gateway", args.gateway)):
        if value:
            raise OptionError(
                f"{flag} goes with --load-from host: a load from the cluster enters the "
                "Service's ClusterIP and would bypass the controller"
            )
    return InCluster(workers=args.load_workers, image=args.load_image)


def ingress_of(args: argparse.Namespace) -> IngressController | None:
    """The controller in the load's path: the one --ingress names, or the Gateway API
    controller --gateway names (never both), with its image: --ingress-image (or
    --gateway-image), else the tag of an --image-archive that carries its unpinned
    image (a cluster that pulls nothing, like the local one), else its release pinned
    by digest."""
    if args.ingress_image and args.ingress is None:
        raise OptionError("--ingress-image goes with --ingress")
    if args.gateway_image and args.gateway is None:
        raise OptionError("--gateway-image goes with --gateway")
    if args.ingress is not None and args.gateway is not None:
        raise OptionError(
            "--ingress and --gateway both name a controller in the load's path: choose one"
        )
    if args.ingress is not None:
        image = args.ingress_image or _release_image(CONTROLLERS[args.ingress], args)
        return controller_named(args.ingress, image=image, node_port=args.ingress_node_port)
    if args.gateway is not None:
        image = args.gateway_image or _release_image(GATEWAYS[args.gateway], args)
        return gateway_named(args.gateway, image=image, node_port=args.gateway_node_port)
    return None


def _release_image(cls: type[IngressController], args: argparse.Namespace) -> str:
    """The controller's unpinned image when an --image-archive carries it, else its
    release pinned by digest."""
    unpinned = cls.release_image.partition("@")[0]
    imported = {t for archive in args.image_archive for t in archive_tags(archive)}
    return unpinned if unpinned in imported else cls.release_image


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


def log_progress(args: argparse.Namespace) -> None:
    """Progress on stderr at the level -q / -v ask for: warnings and errors only (hints
    stay: they are warnings), the default info, or debug lines too."""
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="graceproof %(asctime)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)  # fmt: skip


@contextmanager
def cluster_of(options: Options) -> Iterator[ClusterProvider]:
    """The provider of `options`, started, with its private files in a folder of its
    own that goes with it, and the images the flags name loaded into it."""
    with (
        tempfile.TemporaryDirectory(prefix="graceproof-") as state,
        make_provider(options, Path(state)) as provider,
    ):
        yield provider


def load_images(provider: ClusterProvider, args: argparse.Namespace) -> None:
    """--image and --image-archive, into the cluster's nodes."""
    for image in args.image:
        log.info("loading image %s", image)
        provider.load_image(image)
    for archive in args.image_archive:
        for tag in archive_tags(archive):
            log.info("importing %s from %s", tag, archive)
            provider.load_image(tag, archive)


def options_of(args: argparse.Namespace) -> Options:
    """The cluster the flags name: a kind cluster made for the run (--kind), else the
    existing one kubectl would use. The kind flags count with --kind only (without it
    they were always ignored), and --context without it only."""
    if not args.kind:
        return existing_options(args.kubeconfig, args.context, run_id=args.run_id)
    if args.context:
        raise OptionError("--context applies to an existing cluster, not to --kind")
    return kind_options(
        cluster_name=args.cluster_name,
        k8s_version=args.k8s_version,
        node_image=args.node_image,
        keep_cluster=args.keep_cluster,
        run_id=args.run_id,
    )


def cluster_options_of(args: argparse.Namespace) -> Options:
    """The cluster's Options, with the checks of the flags that concern the cluster and
    the report: what `prove` and `explain` check last among their inputs, so that the
    manifests' and flags' own mistakes come first."""
    options = options_of(args)
    if args.kind and args.node_port is not None and args.node_port not in NODE_PORTS:
        raise OptionError(
            f"--node-port {args.node_port}: kind maps only {NODE_PORTS.start}-"
            f"{NODE_PORTS.stop - 1} to 127.0.0.1; choose one of those"
        )
    check_writable(args.report_dir)
    return options


def provider_of(args: argparse.Namespace, state: Path) -> ClusterProvider:
    """The provider of the flags' cluster, from the registry every way in asks."""
    return make_provider(options_of(args), state)
