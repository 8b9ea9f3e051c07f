"""The result of one scenario, as JSON that reports and regression checks read back:
the last value of the pipeline

    Scenario -> Subject + Measurement -> Analysis -> Verdict -> ScenarioResult

Schema "graceproof.result/v1", documented in docs/result-schema.md. Build a result
with `ScenarioResult.build(subject, measurement)`, save it with `write_json(dir)`,
read it with `load_json(path)` or `load_results(dir_or_file)`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graceproof.action_log import DisruptionRecord
from graceproof.analysis import Analysis
from graceproof.budget import Budget
from graceproof.counts import Counts
from graceproof.errors import ResultSchemaError
from graceproof.gaps import WatchGap, windows_across
from graceproof.measurement import ClusterInfo, Measurement
from graceproof.measures import Measures
from graceproof.model import ConnectionPolicy, TerminationWindow, TimelineEvent
from graceproof.propagation import Propagation
from graceproof.result_files import safe_name, write_file_whole
from graceproof.series import Series
from graceproof.shutdown import hooks_of, pod_ends, shutdown_sentence
from graceproof.stats import RateBound
from graceproof.subject import Subject
from graceproof.verdict import Verdict, judge

SCHEMA = "graceproof.result/v1"
SCHEMA_PREFIX = "graceproof.result/"
__all__ = [
    "SCHEMA",
    "ClusterInfo",
    "DisruptionRecord",
    "ResultSchemaError",
    "ScenarioResult",
    "Verdict",
    "load_json",
    "load_results",
]


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario: a workload variant under load while a disruption terminates pods."""

    scenario_id: str
    variant: str
    connection: ConnectionPolicy
    disruption: DisruptionRecord  # the action log
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
    # The proof's wall time, from the start of its namespace's creation to its result,
    # and the namespace's part of it: with the phases, what the proof cost beside what
    # it measured (None: not recorded, older results). Not a phase, so that the phases'
    # sum keeps its meaning.
    wall_s: float | None = None
    namespace_s: float | None = None
    # How long the traffic path kept choosing each terminating pod, and the preStop
    # sleep that calls for (graceproof.propagation).
    propagation: Propagation | None = None
    # What the traffic kind says beyond the counts (gRPC status codes; streams cut,
    # closed and reconnected): graceproof.traffic.Traffic.summarize.
    traffic: dict[str, Any] | None = None
    # Where a source of the timeline was cut off from the API server (graceproof.gaps);
    # each is also a `watch_gap` event of the timeline.
    gaps: list[WatchGap] = field(default_factory=list)
    schema: str = SCHEMA

    @classmethod
    def build(
        cls,
        subject: Subject,
        measurement: Measurement,
        *,
        name: str = "",
        artifacts: Mapping[str, str] | None = None,
    ) -> ScenarioResult:
        """Analyse the measurement, judge the analysis, and keep all of it with the
        subject. `name` is the result's file stem (reserve_name; the scenario id by
        default); `artifacts` the files beside it, relative to its JSON."""
        analysis = Analysis.of(subject, measurement)
        verdict = judge(
            subject.expected,
            analysis.counts,
            budget=subject.budget,
            measures=analysis.measures,
            gaps=analysis.gaps,
            windows=analysis.windows,
            t0=measurement.started,
            disruption=measurement.disruption.span,
        )
        return cls(
            scenario_id=subject.scenario_id,
            variant=subject.variant,
            connection=subject.connection,
            disruption=measurement.disruption,
            cluster=measurement.cluster,
            load=dict(measurement.load),
            counts=analysis.counts,
            stats=dict(analysis.bounds),
            windows=list(analysis.windows),
            timeline=list(analysis.timeline),
            series=analysis.series,
            verdict=verdict,
            started=measurement.started,
            finished=measurement.finished,
            artifacts=dict(artifacts or {}),
            name=name or safe_name(subject.scenario_id),
            parameters=dict(subject.parameters),
            measures=analysis.measures,
            budget=subject.budget,
            propagation=analysis.propagation,
            traffic=analysis.traffic,
            gaps=list(analysis.gaps),
        )

    @property
    def file_stem(self) -> str:
        return self.name or safe_name(self.scenario_id)

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
            f"{f' ({c.describe_failures()})' if c.failed else ''}, {c.failed_in_windows} of "
            f"{c.in_windows} inside {c.windows} termination windows (error rate in windows "
            f"{self.stats['in_windows'].describe()})" + self._gaps_said()
        )

    def _gaps_said(self) -> str:
        if not self.gaps:
            return ""
        inside = sum(1 for g in self.gaps if g.judged and windows_across(g, self.windows))
        longest = max(g.seconds for g in self.gaps)
        return (
            f"; {len(self.gaps)} timeline gaps (the API connection cut, longest "
            f"{longest:.1f} s), {inside} of the pods watch inside termination windows"
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
            "wall_s": _rounded(self.wall_s),
            "namespace_s": _rounded(self.namespace_s),
            "propagation": None if self.propagation is None else self.propagation.to_dict(),
            "traffic": self.traffic,
            "gaps": [g.to_dict() for g in self.gaps],
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
                disruption=DisruptionRecord.from_dict(d["disruption"]),
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
                wall_s=_float_or_none(d.get("wall_s")),
                namespace_s=_float_or_none(d.get("namespace_s")),
                propagation=(
                    Propagation.from_dict(d["propagation"]) if d.get("propagation") else None
                ),
                traffic=dict(d["traffic"]) if d.get("traffic") else None,
                gaps=[WatchGap.from_dict(g) for g in d.get("gaps") or []],
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


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


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
