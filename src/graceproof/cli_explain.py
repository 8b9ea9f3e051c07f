"""`graceproof explain`: which of a workload's settings keep the requests. The inputs of
`graceproof prove` in; the workload as written and one variant per protection removed
(preStop hook, readiness probe, PodDisruptionBudget, rolling strategy, grace period)
run K times each; a table out: protection | removed -> failures (interval) | p |
verdict. Exit 0 explained (whatever the table says), 1 a run could not finish, 2 bad
input (nothing is deployed then).

    graceproof explain -f deploy/ --kubeconfig kc.yaml
    graceproof explain -f deploy/ --disruption drain-node --runs 5 --time-budget 900
    graceproof explain --chart chart/ --protection prestop-hook --protection pdb -o json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from graceproof.cli_prove import BAD_INPUT_AT_DEPLOY
from graceproof.cli_prove_args import declare_arguments
from graceproof.cli_prove_inputs import (
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
    GraceproofError,
    MissingToolError,
    OptionError,
    ReportWriteError,
    WorkloadSpecError,
)
from graceproof.explain import (
    PROTECTIONS,
    ExplainPlan,
    Explanation,
    plan_explanation,
    protections_named,
    run_plan,
)
from graceproof.ingress import GatewayController, ThroughIngress, check_crds
from graceproof.kube import Kube, api_message
from graceproof.load import LoadSettings
from graceproof.namespaces import test_namespace
from graceproof.providers.base import cluster_info
from graceproof.report import write_explanation_report
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario, run_scenario
from graceproof.workloads.base import Workload
from graceproof.workloads.manifests import ManifestWorkload

__all__ = ["add_parser", "run"]

EXIT_EXPLAINED = 0
EXIT_NOT_FINISHED = 1
EXIT_BAD_INPUT = 2

log = logging.getLogger("graceproof")


def _runs(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a whole number of runs, not {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (runs of each variant), not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a number of seconds, not {text!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "explain",
        help="which of a workload's settings keep the requests: each protection removed in "
        "turn, run K times, with failures, intervals, p-values and a verdict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    declare_arguments(p)
    e = p.add_argument_group("explain")
    e.add_argument(
        "--runs",
        type=_runs,
        default=3,
        metavar="K",
        help="runs of the workload as written and of each variant (default 3)",
    )
    e.add_argument(
        "--protection",
        action="append",
        default=[],
        choices=[x.name for x in PROTECTIONS],
        help="only this protection (repeatable; default: every one)",
    )
    e.add_argument(
        "--time-budget",
        type=_seconds,
        metavar="SECONDS",
        help="refuse before starting when the plan needs more; pairs of protections that "
        "would overrun it are skipped and named",
    )
    p.set_defaults(func=run)


def _refuse_prove_only(args: argparse.Namespace) -> None:
    """Flags of `prove` that mean nothing here: say so rather than ignore them."""
    if args.no_control:
        raise OptionError(
            "--no-control is prove's: explain runs no control; it removes each protection "
            "in turn (--protection chooses which)"
        )
    budgets = ("max_error_rate", "max_unavailable_s", "max_p99_in_windows_s")
    given = [f"--{b.replace('_', '-')}" for b in budgets if getattr(args, b) is not None]
    if given:
        raise OptionError(
            f"{', '.join(given)}: budgets judge a proof; explain judges each protection by "
            "its p-value against the workload as written (use graceproof prove for budgets)"
        )


def _plan(args: argparse.Namespace) -> ExplainPlan:
    """The plan from the flags and manifests; OptionError, WorkloadSpecError, ValueError
    for bad input."""
    _refuse_prove_only(args)
    source = source_of(args)
    log.info("rendering %s", source.describe())
    manifests = ManifestWorkload.load(
        source, target=args.target, service=args.service, node_port=args.node_port
    )
    load = LoadSettings(
        users=args.users,
        timeout_s=args.timeout,
        connection=args.connection,
        path=args.path,
        method=args.method,
        host_header=args.host_header,
        expect_status=args.expect_status,
    )
    ingress = ingress_of(args)
    workload: Workload = manifests if ingress is None else ThroughIngress(manifests, ingress)
    scenario = Scenario(
        workload,
        disruption=disruption_named(args.disruption),
        load=load,
        placement=placement_of(args),
        count_retryable=args.retryable_count == "yes",
    )
    return plan_explanation(
        scenario,
        runs=args.runs,
        protections=protections_named(args.protection),
        time_budget_s=args.time_budget,
    )


def _explain(args: argparse.Namespace, options: Options, plan: ExplainPlan) -> Explanation:
    # The run id the provider checked and made (labels, `graceproof clean --run-id`).
    run_id = options.run_id
    out_dir: Path = args.report_dir
    with cluster_of(options) as provider, Kube.from_kubeconfig(provider.kubeconfig) as kube:
        workload = plan.scenario.workload
        if isinstance(workload, ThroughIngress) and isinstance(
            workload.controller, GatewayController
        ):
            check_crds(kube)  # before anything is loaded or deployed
        load_images(provider, args)
        cluster = cluster_info(provider, kube)

        def run_one(scenario: Scenario) -> ScenarioResult:
            # A namespace per run, deleted before the next: K runs of five variants
            # never hold the cluster's pods at once.
            label = scenario.workload.label
            with test_namespace(kube, run_id, label, lambda: False) as namespace:
                result = run_scenario(
                    kube, namespace, scenario, image="", cluster=cluster, out_dir=out_dir
                )
            log.info("result: %s", result.write_json(out_dir))
            return result

        return run_plan(plan, run_one, time_budget_s=args.time_budget)


def _report(args: argparse.Namespace, explanation: Explanation) -> None:
    lines = sys.stderr if args.output == "json" else sys.stdout
    # The table first: a report that cannot be written (a full disk) must not hide it.
    for line in explanation.lines():
        print(line, file=lines)
    report = write_explanation_report(explanation, args.report_dir)
    print(f"report: {report.summary}", file=lines)
    if args.output == "json":
        doc = {
            **explanation.to_dict(),
            "results": [str(args.report_dir / f"{r.file_stem}.json") for r in explanation.results],
            "report": str(report.summary),
        }
        print(json.dumps(doc, indent=2))


def run(args: argparse.Namespace) -> int:
    log_progress(args)
    lines = sys.stderr if args.output == "json" else sys.stdout
    try:
        plan = _plan(args)
    except (WorkloadSpecError, OptionError, ValueError, TypeError, MissingToolError) as exc:
        print(f"graceproof explain: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # The cost up front, before any cluster is touched.
    for line in plan.lines():
        print(line, file=lines)
    if args.dry_run:
        return EXIT_EXPLAINED
    try:
        options = cluster_options_of(args)
    except OptionError as exc:
        print(f"graceproof explain: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        explanation = _explain(args, options, plan)
        _report(args, explanation)
    except BAD_INPUT_AT_DEPLOY as exc:
        print(f"graceproof explain: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ReportWriteError as exc:
        print(f"graceproof explain: {exc}", file=sys.stderr)
        return EXIT_NOT_FINISHED
    except GraceproofError as exc:
        print(f"graceproof explain: not finished: {exc}", file=sys.stderr)
        return EXIT_NOT_FINISHED
    except ApiException as exc:
        print(
            f"graceproof explain: the API server refused (HTTP {exc.status}): {api_message(exc)}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_EXPLAINED
