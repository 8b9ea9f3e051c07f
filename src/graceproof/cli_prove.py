"""`graceproof prove`: a team's manifests, kustomization or chart in; a zero-downtime
verdict out, with its negative control, a report, and an exit code:
0 proven, 1 not proven, 2 bad input (nothing is deployed then).

    graceproof prove -f deploy/ --kubeconfig kc.yaml
    graceproof prove -k deploy/overlays/prod --kind --image myapp:1.2.3
    graceproof prove --chart chart/ --set preStopSleepSeconds=5 --kubeconfig kc.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes.client.exceptions import ApiException

from graceproof.cli_prove_args import declare_arguments
from graceproof.cli_prove_inputs import (
    budget_of,
    cluster_of,
    cluster_options_of,
    ingress_of,
    load_images,
    log_progress,
    placement_of,
    source_of,
)
from graceproof.config import Options
from graceproof.disruptions import disruption_named
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
from graceproof.ingress import GatewayApiMissingError, GatewayController, check_crds
from graceproof.kube import Kube, api_message
from graceproof.load import LoadSettings
from graceproof.namespaces import reap_run_namespaces
from graceproof.plan import plan_of
from graceproof.providers import ClusterProvider
from graceproof.providers.base import cluster_info
from graceproof.proving import ProofOutcome, outcome_json, prove_with_control
from graceproof.report import write_report
from graceproof.workloads.manifests import ManifestWorkload

__all__ = ["add_parser", "run"]

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
    GatewayApiMissingError,  # the cluster's input: install the CRDs, as it says
)

log = logging.getLogger("graceproof")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prove",
        help="prove a workload (manifests, kustomize or a Helm chart) keeps every request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    declare_arguments(p)
    p.set_defaults(func=run)


def _prove(
    args: argparse.Namespace,
    options: Options,
    workload: ManifestWorkload,
    hints: tuple[str, ...] = (),
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
    with (
        cluster_of(options) as provider,
        Kube.from_kubeconfig(provider.kubeconfig) as kube,
        _reaped(provider, kube, options.run_id),
    ):
        controller = ingress_of(args)
        if isinstance(controller, GatewayController):
            check_crds(kube)  # before anything is loaded or deployed
        load_images(provider, args)
        cluster = cluster_info(provider, kube)
        outcome = prove_with_control(
            kube,
            workload,
            disruption=disruption_named(args.disruption),
            load=load,
            run_id=options.run_id,
            cluster=cluster,
            out_dir=args.report_dir,
            control=not args.no_control,
            budget=budget_of(args),
            ingress=controller,
            placement=placement_of(args),
            count_retryable=args.retryable_count == "yes",
            wait_deleted=False,  # _reaped waits, once the verdict is out
        )
        # The verdict before the namespaces are gone and the cluster stopped.
        _tell(args, outcome, hints)
    return outcome


@contextmanager
def _reaped(provider: ClusterProvider, kube: Kube, run_id: str) -> Iterator[None]:
    """At the end, also after a failure, Ctrl-C or SIGTERM: wait (bounded) for every
    namespace of the run, deleted without waiting, to be gone; a warning names any
    that would not go. Not when the provider deletes the whole cluster anyway."""
    try:
        yield
    finally:
        if not provider.deletes_cluster:
            try:
                reap_run_namespaces(kube, run_id)
            except Exception as exc:  # must not hide the verdict, nor the error before
                log.warning(
                    "could not wait for the namespaces of run %s to go: %s; remove any "
                    "left with: graceproof clean --run-id %s",
                    run_id,
                    exc,
                    run_id,
                )


def _tell(args: argparse.Namespace, outcome: ProofOutcome, hints: tuple[str, ...]) -> None:
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


def run(args: argparse.Namespace) -> int:
    log_progress(args)
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
        options = cluster_options_of(args)
    except OptionError as exc:
        print(f"graceproof prove: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for hint in plan.hints:
        log.warning("hint: %s", hint)
    try:
        outcome = _prove(args, options, workload, plan.hints)
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
