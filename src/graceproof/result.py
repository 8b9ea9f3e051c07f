"""The result of one scenario, as JSON that reports and regression checks read back.

Schema "graceproof.result/v1", documented in docs/result-schema.md. Build a result
from a run with `ScenarioResult.build(...)`, save it with `write_json(dir)`, read it
with `load_json(path)` or `load_results(dir_or_file)`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from graceproof.analysis import (
    DEFAULT_BIN_S,
    Counts,
    Series,
    per_second,
    summarize,
    termination_windows,
)
from graceproof.budget import Budget
from graceproof.errors import GraceproofError, ReportWriteError, ResultSchemaError
from graceproof.failures import FailureContext
from graceproof.measures import Measures, measure
from graceproof.model import (
    EXPECTATIONS,
    ConnectionPolicy,
    Expected,
    RequestRecord,
    TerminationWindow,
    TimelineEvent,
)
from graceproof.propagation import Propagation, propagation
from graceproof.shutdown import hooks_of, pod_ends, shutdown_sentence
from graceproof.stats import DEFAULT_CONF, RateBound, error_rate_bound
from graceproof.traffic import traffic as traffic_kind

SCHEMA = "graceproof.result/v1"
SCHEMA_PREFIX = "graceproof.result/"
__all__ = [
    "EXPECTATIONS",
    "SCHEMA",
    "ClusterInfo",
    "Disruption",
    "Expected",
    "ResultSchemaError",
    "ScenarioResult",
    "Verdict",
    "judge",
    "load_json",
    "load_results",
    "reserve_name",
]


@dataclass
class Disruption:
    """What graceproof did to the workload, and when: the record a disruption writes
    while it runs (`act`), and the part of the result that keeps it."""

    kind: str  # a disruption's kind: delete-one-by-one, rollout-restart, scale-down
    started: float
    finished: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def actions(self) -> list[dict[str, Any]]:
        """Each step taken, in order: `{"t", "action", ...}` (detail["actions"])."""
        actions: list[dict[str, Any]] = self.detail.setdefault("actions", [])
        return actions

    def act(self, action: str, **detail: Any) -> None:
        """Record that graceproof did `action` now (e.g. delete, pod=NAME)."""
        self.actions.append({"t": time.time(), "action": action, **detail})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "started": self.started,
            "finished": self.finished,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Disruption:
        finished = d.get("finished")
        return cls(
            kind=str(d["kind"]),
            started=float(d["started"]),
            finished=None if finished is None else float(finished),
            detail=dict(d.get("detail") or {}),
        )


@dataclass(frozen=True)
class ClusterInfo:
    provider: str  # the provider's name: kind, existing
    name: str
    kubernetes_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "kubernetes_version": self.kubernetes_version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClusterInfo:
        return cls(
            provider=str(d["provider"]),
            name=str(d["name"]),
            kubernetes_version=str(d["kubernetes_version"]),
        )


@dataclass(frozen=True)
class Verdict:
    expected: Expected
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "passed": self.passed, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        expected = str(d["expected"])
        if expected not in EXPECTATIONS:
            raise ResultSchemaError(f"verdict.expected must be one of {EXPECTATIONS}")
        return cls(expected=expected, passed=bool(d["passed"]), message=str(d["message"]))


def judge(
    expected: Expected,
    counts: Counts,
    *,
    require_coverage: bool = True,
    budget: Budget | None = None,
    measures: Measures | None = None,
) -> Verdict:
    """Pass or fail a scenario.

    no-errors: no request failed at all (or, with an error-rate budget, no more than
      it allows), every other budget is met, and (with require_coverage) some requests
      fell inside a termination window: a clean run that never overlapped a
      termination proves nothing.
    errors (the negative control): some request failed inside a termination window;
      if none did, this cluster cannot tell a hook from no hook. Budgets do not apply.
    informative: kept to show something, held to nothing: it always passes, and its
      message says what it saw and that it was not judged.

    Retryable failures (graceproof.failures) are failures unless the counts took them
    as answered (`Counts.retried`); either way the message names them.
    """
    verdict = _judge(expected, counts, require_coverage, budget, measures)
    if counts.retried:
        note = (
            f"not counted: {counts.retried} retryable failures ({counts.retried_in_windows} "
            f"inside termination windows), {_RETRYABLE}"
        )
    elif counts.retryable and expected != "informative":
        note = (
            f"of the failures, {counts.retryable} retryable ({_RETRYABLE}; "
            "--retryable-count no leaves them out)"
        )
    else:
        return verdict
    return replace(verdict, message=f"{verdict.message}; {note}")


# What a retryable failure is, where a verdict names them (graceproof.failures).
_RETRYABLE = (
    "closed before any byte of the answer on a reused connection, which a client that "
    "retries idempotent requests sends again"
)


def _judge(
    expected: Expected,
    counts: Counts,
    require_coverage: bool,
    budget: Budget | None,
    measures: Measures | None,
) -> Verdict:
    if expected == "no-errors":
        return _judge_clean(counts, require_coverage, budget, measures)
    if expected == "errors":
        return _judge_control(counts)
    if expected == "informative":
        return Verdict(
            "informative",
            True,
            f"informative, not judged: {counts.failed} of {counts.total} requests failed, "
            f"{counts.failed_in_windows} of {counts.in_windows} inside termination windows"
            + (f" ({_kinds(counts)})" if counts.failed else "")
            + _late(counts),
        )
    raise ValueError(f"expected must be one of {EXPECTATIONS}, not {expected!r}")


def _kinds(counts: Counts) -> str:
    """The failures by error kind and, where recorded, by class: `connection_refused 40,
    timeout 2; stale_endpoint 42`."""
    kinds = ", ".join(f"{k} {v}" for k, v in counts.error_kinds.items())
    return f"{kinds}; {counts.describe_classes()}" if counts.classes else kinds


def _judge_clean(
    counts: Counts, require_coverage: bool, budget: Budget | None, measures: Measures | None
) -> Verdict:
    strict = budget is None or budget.max_error_rate is None
    if strict and counts.failed:
        return Verdict(
            "no-errors",
            False,
            f"{counts.failed} of {counts.total} requests failed "
            f"({counts.failed_in_windows} inside termination windows; {_kinds(counts)})"
            + _late(counts),
        )
    breaches = budget.breaches(counts, measures) if budget is not None else []
    if breaches:
        return Verdict("no-errors", False, "budget exceeded: " + "; ".join(breaches))
    if require_coverage and counts.in_windows == 0:
        return Verdict(
            "no-errors",
            False,
            f"no failures, but none of the {counts.total} requests fell inside a "
            "termination window: the load did not cover the disruption",
        )
    if require_coverage and counts.windows_covered < counts.windows:
        return Verdict(
            "no-errors",
            False,
            f"{counts.windows - counts.windows_covered} of {counts.windows} termination "
            "windows had no request inside: the load did not cover every termination",
        )
    message = (
        f"{counts.failed} of {counts.total} requests failed ({counts.in_windows} inside "
        "termination windows)"
    )
    if budget is not None:
        message += f", within budget ({budget.describe()})"
    return Verdict("no-errors", True, message + _late(counts))


def _late(counts: Counts) -> str:
    """Arrivals never sent, said beside the verdict: the bound covers sent requests only."""
    if not counts.late:
        return ""
    return (
        f"; {counts.late} open-loop arrivals ({counts.late_in_windows} inside windows) were "
        "not sent on time (a saturated generator) and are not counted as requests"
    )


def _judge_control(counts: Counts) -> Verdict:
    if counts.failed_in_windows:
        return Verdict(
            "errors",
            True,
            f"negative control reproduced: {counts.failed_in_windows} of "
            f"{counts.in_windows} requests inside termination windows failed ({_kinds(counts)})"
            + _late(counts),
        )
    return Verdict(
        "errors",
        False,
        f"negative control did not fail: 0 of {counts.in_windows} requests inside "
        "termination windows failed, so this setup cannot show what a hook changes",
    )


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "scenario"


def _bounds(counts: Counts, conf: float) -> dict[str, RateBound]:
    """The error-rate bound overall and inside the termination windows."""
    return {
        "overall": error_rate_bound(counts.failed, counts.total, conf),
        "in_windows": error_rate_bound(counts.failed_in_windows, counts.in_windows, conf),
    }


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario: a workload variant under load while a disruption terminates pods."""

    scenario_id: str
    variant: str
    connection: ConnectionPolicy
    disruption: Disruption
    cluster: ClusterInfo
    load: dict[str, Any]  # users, duration_s, path, timeout_s, wait_s, port, returncode
    counts: Counts
    stats: dict[str, RateBound]  # "overall" and "in_windows"
    windows: list[TerminationWindow]
    timeline: list[TimelineEvent]
    series: Series
    verdict: Verdict
    started: float
    finished: float
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> path relative to the JSON
    # The file stem of this result in its report folder: the scenario id, with a
    # suffix when that name was already taken there (see reserve_name).
    name: str = ""
    # Every parameter of the scenario (workload, disruption, load), for readers.
    parameters: dict[str, Any] = field(default_factory=dict)
    measures: Measures | None = None  # latency, unavailability, throughput dip
    budget: Budget | None = None  # what the verdict allowed beside the zero rule
    # Seconds spent in each phase of the proof (deploy, load_start, warmup, disruption,
    # terminations, settle, load_stop, verdict): where a proof's time goes.
    phases: dict[str, float] = field(default_factory=dict)
    # How long the traffic path kept choosing each terminating pod, and the preStop
    # sleep that calls for (graceproof.propagation).
    propagation: Propagation | None = None
    # What the traffic kind says beyond the counts (gRPC status codes; streams cut,
    # closed and reconnected): graceproof.traffic.Traffic.summarize.
    traffic: dict[str, Any] | None = None
    schema: str = SCHEMA

    @classmethod
    def build(
        cls,
        *,
        scenario_id: str,
        variant: str,
        connection: ConnectionPolicy,
        disruption: Disruption,
        cluster: ClusterInfo,
        load: Mapping[str, Any],
        records: Sequence[RequestRecord],
        timeline: Sequence[TimelineEvent],
        expected: Expected,
        started: float,
        finished: float,
        conf: float = DEFAULT_CONF,
        require_coverage: bool = True,
        artifacts: Mapping[str, str] | None = None,
        name: str = "",
        parameters: Mapping[str, Any] | None = None,
        budget: Budget | None = None,
        count_retryable: bool = True,
    ) -> ScenarioResult:
        """Analyse a run: termination windows, counts, bounds, series and verdict.
        Retryable failures count unless `count_retryable` is False; then the counts, the
        bounds and the verdict take them as answered, and say how many."""
        kind = traffic_kind(connection)
        events = sorted(timeline, key=lambda e: e.t)
        last = max((r.t + r.duration for r in records), default=finished)
        windows = termination_windows(events, until=max(last, finished))
        context = FailureContext.of(parameters or {})
        counts = summarize(records, windows, context, retried=not count_retryable)
        measures = measure(records, windows)
        t0 = min((r.t for r in records), default=started)
        return cls(
            scenario_id=scenario_id,
            variant=variant,
            connection=connection,
            disruption=disruption,
            cluster=cluster,
            load=dict(load),
            counts=counts,
            stats=_bounds(counts, conf),
            windows=windows,
            timeline=events,
            series=per_second(records, t0=t0, bin_s=DEFAULT_BIN_S),
            verdict=judge(
                expected,
                counts,
                require_coverage=require_coverage,
                budget=budget,
                measures=measures,
            ),
            started=started,
            finished=finished,
            artifacts=dict(artifacts or {}),
            name=name or _safe_name(scenario_id),
            parameters=dict(parameters or {}),
            measures=measures,
            budget=budget,
            # Only where each request is a routing decision of the path (Traffic docs).
            propagation=propagation(records, events) if kind.routes_each_request else None,
            traffic=kind.summarize(records),
        )

    @property
    def file_stem(self) -> str:
        return self.name or _safe_name(self.scenario_id)

    @property
    def shutdown(self) -> str | None:
        """What the disrupted pods did from deletion to exit (graceproof.shutdown)."""
        return shutdown_sentence(
            pod_ends(self.windows, self.timeline),
            hooks_of(self.parameters),
            deleted=len(self.windows),
        )

    def headline(self) -> str:
        """The figures of the proof on one line: requests and failures (by kind), those
        inside the termination windows and the bound on their error rate."""
        c = self.counts
        return (
            f"{self.file_stem} ({self.connection}): {c.failed} of {c.total} failed"
            f"{f' ({_kinds(c)})' if c.failed else ''}, {c.failed_in_windows} of "
            f"{c.in_windows} inside {c.windows} termination windows (error rate in windows "
            f"{self.stats['in_windows'].describe()})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "scenario_id": self.scenario_id,
            "variant": self.variant,
            "connection": self.connection,
            "disruption": self.disruption.to_dict(),
            "cluster": self.cluster.to_dict(),
            "load": dict(self.load),
            "counts": self.counts.to_dict(),
            "stats": {name: bound.to_dict() for name, bound in self.stats.items()},
            "windows": [{"pod": w.pod, "start": w.start, "end": w.end} for w in self.windows],
            "timeline": [e.to_dict() for e in self.timeline],
            "series": self.series.to_dict(),
            "verdict": self.verdict.to_dict(),
            "started": self.started,
            "finished": self.finished,
            "artifacts": dict(self.artifacts),
            "name": self.file_stem,
            "parameters": dict(self.parameters),
            "measures": None if self.measures is None else self.measures.to_dict(),
            "budget": None if self.budget is None else self.budget.to_dict(),
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "propagation": None if self.propagation is None else self.propagation.to_dict(),
            "traffic": self.traffic,
            # Derived from the timeline, written for readers of the JSON; not read back.
            "shutdown": self.shutdown,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScenarioResult:
        schema = d.get("schema")
        if schema != SCHEMA:
            raise ResultSchemaError(f"schema is {schema!r}; this graceproof reads {SCHEMA!r}")
        try:
            # Any name: a result of a user's own traffic kind is read where that kind
            # is not registered.
            connection = str(d["connection"])
            if not connection:
                raise ResultSchemaError("connection (the traffic kind's name) is empty")
            return cls(
                scenario_id=str(d["scenario_id"]),
                variant=str(d["variant"]),
                connection=connection,
                disruption=Disruption.from_dict(d["disruption"]),
                cluster=ClusterInfo.from_dict(d["cluster"]),
                load=dict(d["load"]),
                counts=Counts.from_dict(d["counts"]),
                stats={str(k): RateBound.from_dict(v) for k, v in d["stats"].items()},
                windows=[
                    TerminationWindow(
                        pod=str(w["pod"]), start=float(w["start"]), end=float(w["end"])
                    )
                    for w in d["windows"]
                ],
                timeline=[TimelineEvent.from_dict(e) for e in d["timeline"]],
                series=Series.from_dict(d["series"]),
                verdict=Verdict.from_dict(d["verdict"]),
                started=float(d["started"]),
                finished=float(d["finished"]),
                artifacts={str(k): str(v) for k, v in (d.get("artifacts") or {}).items()},
                name=str(d.get("name") or ""),
                parameters=dict(d.get("parameters") or {}),
                measures=Measures.from_dict(d["measures"]) if d.get("measures") else None,
                budget=Budget.from_dict(d["budget"]) if d.get("budget") is not None else None,
                phases={str(k): float(v) for k, v in (d.get("phases") or {}).items()},
                propagation=(
                    Propagation.from_dict(d["propagation"]) if d.get("propagation") else None
                ),
                traffic=dict(d["traffic"]) if d.get("traffic") else None,
            )
        except ResultSchemaError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultSchemaError(f"malformed {SCHEMA} result: {exc!r}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def write_json(self, directory: Path) -> Path:
        """Write <name>.json into directory (created if needed); return its path.

        `name` comes from `reserve_name`, so no other result has it: a result is never
        overwritten by another scenario's, nor by a rerun of the same one."""
        path = directory / f"{self.file_stem}.json"
        write_file_whole(path, self.to_json())
        return path


def write_file_whole(path: Path, text: str) -> None:
    """Write `path` whole or not at all: through a temporary file beside it, renamed into
    place, so a full disk or a kill mid-write never leaves half a file (nor half
    replaces an earlier one). ReportWriteError, naming the file and the cause, when it
    cannot be written. The file gets the mode a plain open() gives (0666 less the
    umask), as the other report files have."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_beside(path)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise ReportWriteError(
            f"could not write {path}: {exc.strerror or exc}; the files written before it "
            "are kept. To fix: free space or choose a writable folder (--report-dir, "
            "--gp-report-dir)"
        ) from exc


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, exclusively created temporary file beside `path`. Not tempfile.mkstemp:
    its files are 0600; with mode 0666 here the kernel applies the umask, as for open(),
    without reading the umask (os.umask can only be read by changing it, for every
    thread)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


RESERVED_SUFFIX = ".requests.jsonl"


def reserve_name(directory: Path, scenario_id: str) -> str:
    """A file stem for a new result of `scenario_id` in `directory`, taken by creating
    `<stem>.requests.jsonl` exclusively (so two runs, even in two processes, never get
    the same one): the scenario id, else `<id>--2`, `<id>--3`, ... when a result of
    that name is already there."""
    directory.mkdir(parents=True, exist_ok=True)
    base = _safe_name(scenario_id)
    for n in range(1, 10_000):
        stem = base if n == 1 else f"{base}--{n}"
        if (directory / f"{stem}.json").exists():
            continue
        try:
            fd = os.open(directory / f"{stem}{RESERVED_SUFFIX}", os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return stem
    raise GraceproofError(f"{directory} holds 10,000 results of {scenario_id}; clean it up")


def load_json(path: Path) -> ScenarioResult:
    """Read one result file; ResultSchemaError when it is not a v1 result."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultSchemaError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultSchemaError(f"{path} holds a JSON {type(data).__name__}, not an object")
    try:
        return ScenarioResult.from_dict(data)
    except ResultSchemaError as exc:
        raise ResultSchemaError(f"{path}: {exc}") from exc


def load_results(path: Path) -> list[ScenarioResult]:
    """Results from one file, or from every result JSON in a directory (not recursive).

    In a directory, JSON files without a graceproof.result schema (Locust stats,
    other tools) are skipped; a graceproof result of an unknown version is an error.
    """
    if path.is_file():
        return [load_json(path)]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a result file nor a directory")
    results = []
    for candidate in sorted(path.glob("*.json")):
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and str(data.get("schema", "")).startswith(SCHEMA_PREFIX):
            results.append(load_json(candidate))
    return results
