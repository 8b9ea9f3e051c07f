"""The `graceproof` command: compare runs, rebuild reports, regenerate manifests, clean.

Exit codes: 0 fine, 1 a regression (compare) or stale manifests (manifests --check),
2 a usage error (bad arguments, missing or unreadable result files); 130 after Ctrl-C
and 143 after SIGTERM, once everything the run made is removed.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from graceproof import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so every `finally` and context manager
    on the way out runs (namespaces deleted, Locust stopped), as for Ctrl-C. A
    BaseException: no `except Exception` on the way swallows it."""


def _cmd_compare(args: argparse.Namespace) -> int:
    from graceproof.report.compare import Tolerance, compare
    from graceproof.result import load_results

    runs = []
    for label, path in (("baseline", args.baseline), ("change", args.change)):
        results = load_results(path)
        if not results:
            raise FileNotFoundError(f"no graceproof result JSON in the {label} {path}")
        runs.append(results)
    for flag, value in (
        ("--unavailable-tolerance-s", args.unavailable_tolerance_s),
        ("--p99-tolerance-factor", args.p99_tolerance_factor),
    ):
        if not math.isfinite(value):
            raise ValueError(f"{flag} must be a number, not {value}")
    tolerance = Tolerance(
        unavailable_s=None if args.unavailable_tolerance_s < 0 else args.unavailable_tolerance_s,
        p99_factor=None if args.p99_tolerance_factor <= 0 else args.p99_tolerance_factor,
    )
    comparison = compare(runs[0], runs[1], tolerance)
    print(comparison.describe(), file=sys.stdout if comparison.ok else sys.stderr)
    return EXIT_OK if comparison.ok else EXIT_FAILED


def _cmd_report(args: argparse.Namespace) -> int:
    from graceproof.report import build_report

    report = build_report(args.results, args.out)
    print(report.summary)
    for path in report.pictures.values():
        print(path)
    return EXIT_OK


def _cmd_manifests(args: argparse.Namespace) -> int:
    from graceproof import workloads

    argv = ["--check"] if args.check else []
    if args.out is not None:
        argv += ["--out", str(args.out)]
    return workloads.main(argv)


def _cmd_clean(args: argparse.Namespace) -> int:
    import tempfile

    from graceproof.cli_options import existing_options
    from graceproof.errors import GraceproofError, OptionError
    from graceproof.kube import Kube
    from graceproof.namespaces import delete_namespaces, namespaces_to_clean
    from graceproof.providers import make_provider

    try:
        options = existing_options(
            args.kubeconfig,
            args.context,
            no_cluster="no cluster: give --kubeconfig FILE, set $KUBECONFIG, or have "
            "~/.kube/config",
        )
        with (
            tempfile.TemporaryDirectory(prefix="graceproof-") as state,
            make_provider(options, Path(state)) as provider,
            Kube.from_kubeconfig(provider.kubeconfig) as kube,
        ):
            chosen, alone = namespaces_to_clean(kube, run_id=args.run_id, everything=args.all)
            if not args.dry_run:
                delete_namespaces(kube, chosen)
    except (OptionError, GraceproofError) as exc:
        print(f"graceproof clean: {exc}", file=sys.stderr)
        return EXIT_USAGE  # as `graceproof prove` exits on a bad kubeconfig
    which = (
        "every graceproof namespace"
        if args.all
        else f"run {args.run_id}'s"
        if args.run_id
        else "this machine's finished runs'"
    )
    verb = "would remove" if args.dry_run else "removed"
    print(f"graceproof clean: {verb} {len(chosen)} namespace(s), {which}"
          f"{': ' + ', '.join(chosen) if chosen else ''}")  # fmt: skip
    if alone:
        print(
            f"graceproof clean: left {len(alone)} alone (runs in progress, of other machines "
            f"or other runs; --all removes them): {', '.join(alone)}"
        )
    return EXIT_OK


class _ShortErrors(argparse.ArgumentParser):
    """A usage error in two lines, as kubectl and helm give it, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _ShortErrors(
        prog="graceproof",
        description="Prove that pods terminate without dropping requests: reports and checks.",
    )
    p.add_argument("--version", action="version", version=f"graceproof {__version__}")
    # Subcommands get the same class (argparse's default), so their errors are short too.
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        p.add_subparsers(dest="command", required=True),
    )

    from graceproof.cli_explain import add_parser as add_explain
    from graceproof.cli_prove import add_parser as add_prove

    add_prove(sub)
    add_explain(sub)
    c = sub.add_parser(
        "compare",
        help="fail (exit 1) when a scenario clean in the baseline has failures in the change",
    )
    c.add_argument("baseline", type=Path, help="result JSON file or directory of results")
    c.add_argument("change", type=Path, help="result JSON file or directory of results")
    c.add_argument(
        "--unavailable-tolerance-s",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds without any success a scenario may add before it is a regression "
        "(default 1.0; negative: not checked)",
    )
    c.add_argument(
        "--p99-tolerance-factor",
        type=float,
        default=2.0,
        metavar="F",
        help="factor by which p99 latency in the windows may grow (default 2.0, and at "
        "least +50 ms; 0: not checked)",
    )
    c.set_defaults(func=_cmd_compare)

    r = sub.add_parser("report", help="(re)build summary.md and pictures from result JSON files")
    r.add_argument("results", type=Path, help="directory of result JSON files (or one file)")
    r.add_argument("--out", type=Path, default=None, help="output directory (default: results)")
    r.set_defaults(func=_cmd_report)

    m = sub.add_parser("manifests", help="regenerate the example manifests of the workload")
    m.add_argument("--out", type=Path, default=None, help="default: workloads/manifests")
    m.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    m.set_defaults(func=_cmd_manifests)
    k = sub.add_parser(
        "clean",
        help="delete the namespaces of this machine's finished graceproof runs (never a "
        "run still in progress); --run-id or --all for others",
    )
    k.add_argument(
        "--kubeconfig",
        type=Path,
        help="the cluster's kubeconfig (default: $KUBECONFIG, else ~/.kube/config)",
    )
    k.add_argument("--context", help="the kubeconfig's context (default: its current one)")
    which = k.add_mutually_exclusive_group()
    which.add_argument("--run-id", help="only this run's namespaces (running or not)")
    which.add_argument(
        "--all", action="store_true", help="every graceproof namespace, other runs' too"
    )
    k.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    k.set_defaults(func=_cmd_clean)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from graceproof.result import ResultSchemaError

    args = parser().parse_args(argv)
    previous = _terminate_on_sigterm()
    try:
        code: int = args.func(args)
    except (FileNotFoundError, ResultSchemaError, ValueError) as exc:
        print(f"graceproof {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"graceproof {args.command}: interrupted; what it made is removed", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"graceproof {args.command}: terminated; what it made is removed", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return code


def _terminate_on_sigterm() -> Any:
    """Turn SIGTERM (timeout, kill, a CI runner cancelling the job) into `Terminated` in
    the main thread; return the handler it replaced (None: not the main thread). By
    default SIGTERM ends the process at once, leaving its namespaces and its Locust
    subprocess behind."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, _frame: object) -> None:
        # A second SIGTERM must not cut the cleanup the first one started.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(signum)

    return signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
