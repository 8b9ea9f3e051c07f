"""What a failed test leaves behind: pod summaries, events, logs (also of previous
containers) and the timeline, as report sections and as files."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from graceproof.kube import Kube
from graceproof.model import TimelineEvent
from graceproof.waiting import REQUEST_TIMEOUT, describe_pod

__all__ = ["artifact_dir_name", "collect", "format_timeline", "write"]

_LOG_TAIL = 1000  # lines per container; enough to see a shutdown, small enough for a report
_EPOCH = dt.datetime.fromtimestamp(0, dt.UTC)


def _guard(sections: dict[str, str], title: str, fn: Callable[[], str]) -> None:
    # A diagnostic that fails must not hide the others (nor the test's own failure).
    try:
        sections[title] = fn()
    except Exception as exc:
        sections[title] = f"(could not collect: {type(exc).__name__}: {exc})"


def _event_time(ev: Any) -> dt.datetime:
    for t in (ev.last_timestamp, ev.event_time, ev.first_timestamp, ev.metadata.creation_timestamp):
        if isinstance(t, dt.datetime):
            return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    return _EPOCH


def _events(kube: Kube, namespace: str) -> str:
    events = sorted(
        kube.core.list_namespaced_event(namespace, _request_timeout=REQUEST_TIMEOUT).items,
        key=_event_time,
    )
    lines = []
    for ev in events:
        when = _event_time(ev).strftime("%H:%M:%S")
        obj = ev.involved_object
        count = f" (x{ev.count})" if ev.count and ev.count > 1 else ""
        lines.append(
            f"{when} {ev.type or '-':7} {ev.reason or '-':24} {obj.kind}/{obj.name}: "
            f"{(ev.message or '').strip()}{count}"
        )
    return "\n".join(lines) or "(no events)"


def _pods_summary(pods: Sequence[Any]) -> str:
    lines = [f"{p.metadata.name} on {p.spec.node_name}: {describe_pod(p)}" for p in pods]
    return "\n".join(lines) or "(no pods)"


def collect(kube: Kube, namespace: str) -> dict[str, str]:
    """Report sections for `namespace`, title -> text, in a stable order."""
    sections: dict[str, str] = {}
    pods: list[Any] = []

    def summary() -> str:
        pods.extend(
            kube.core.list_namespaced_pod(namespace, _request_timeout=REQUEST_TIMEOUT).items
        )
        return _pods_summary(pods)

    _guard(sections, f"pods in {namespace}", summary)
    _guard(sections, f"events in {namespace}", lambda: _events(kube, namespace))
    for pod in pods:
        name = pod.metadata.name
        for cs in (pod.status.init_container_statuses or []) + (
            pod.status.container_statuses or []
        ):
            container = cs.name

            def logs(previous: bool, name: str = name, container: str = container) -> str:
                text = kube.core.read_namespaced_pod_log(
                    name,
                    namespace,
                    container=container,
                    previous=previous,
                    timestamps=True,
                    tail_lines=_LOG_TAIL,
                    _request_timeout=REQUEST_TIMEOUT,
                )
                return str(text) or "(empty)"

            _guard(sections, f"logs {name}/{container}", lambda: logs(False))
            if (cs.restart_count or 0) > 0:
                _guard(sections, f"previous logs {name}/{container}", lambda: logs(True))
    return sections


def format_timeline(timeline: Sequence[TimelineEvent]) -> str:
    """One line per event, in time order, with the time relative to the first."""
    if not timeline:
        return "(no events)"
    events = sorted(timeline, key=lambda e: e.t)
    t0 = events[0].t
    lines = []
    for e in events:
        clock = dt.datetime.fromtimestamp(e.t, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        detail = " ".join(f"{k}={v}" for k, v in e.detail.items())
        lines.append(f"+{e.t - t0:8.3f}s {clock} {e.kind:22} {e.pod or '-'} {detail}".rstrip())
    return "\n".join(lines)


def artifact_dir_name(test_id: str) -> str:
    """A file-system-safe directory name for a pytest node id."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_id).strip("_.")
    return name[:150] or "test"


def write(
    artifacts_dir: Path,
    test_id: str,
    sections: dict[str, str],
    timeline: Sequence[TimelineEvent] | None,
) -> Path:
    """Write each section to `<artifacts_dir>/<test>/<section>.txt` and the timeline to
    `timeline.json` (and `timeline.txt`); returns the test's directory."""
    out = artifacts_dir / artifact_dir_name(test_id)
    out.mkdir(parents=True, exist_ok=True)
    (out / "test-id.txt").write_text(test_id + "\n", encoding="utf-8")
    for title, text in sections.items():
        (out / f"{artifact_dir_name(title)}.txt").write_text(text + "\n", encoding="utf-8")
    if timeline is not None:
        (out / "timeline.json").write_text(
            json.dumps([e.to_dict() for e in timeline], indent=1, default=str) + "\n",
            encoding="utf-8",
        )
        (out / "timeline.txt").write_text(format_timeline(timeline) + "\n", encoding="utf-8")
    return out
