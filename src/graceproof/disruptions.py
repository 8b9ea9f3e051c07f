"""Disruptions under load: delete pods one by one, roll out a restart, scale down.

Each takes the pods away the way a user or a controller would, with the pods' own
grace period (never --grace-period or --force, which remove the behaviour under
test), and records when it acted. Waits are bounded and named (graceproof.waiting).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from graceproof.kube import Kube
from graceproof.waiting import wait_for

DisruptionKind = Literal["delete-one-by-one", "rollout-restart", "scale-down"]
DISRUPTIONS: tuple[DisruptionKind, ...] = ("delete-one-by-one", "rollout-restart", "scale-down")


@dataclass
class DisruptionRecord:
    kind: str
    started: float = 0.0
    finished: float = 0.0
    actions: list[dict[str, Any]] = field(default_factory=list)

    def act(self, action: str, **detail: Any) -> None:
        self.actions.append({"t": time.time(), "action": action, **detail})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "started": self.started,
            "finished": self.finished,
            "actions": list(self.actions),
        }


def _selector(kube: Kube, namespace: str, deployment: str) -> str:
    d = kube.apps.read_namespaced_deployment(deployment, namespace)
    labels = d.spec.selector.match_labels or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def serving_pods(kube: Kube, namespace: str, selector: str) -> list[Any]:
    """Pods that are Ready and not terminating."""
    pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None and _ready(p)]


def _wait_serving(
    kube: Kube,
    namespace: str,
    selector: str,
    want: int,
    exclude: set[str],
    timeout: float,
    progress: Callable[[str], None] | None,
) -> list[Any]:
    last: list[str] = []

    def probe() -> list[Any] | None:
        pods = [
            p for p in serving_pods(kube, namespace, selector) if p.metadata.name not in exclude
        ]
        last[:] = [p.metadata.name for p in pods]
        return pods if len(pods) >= want else None

    return wait_for(
        probe,
        what=f"{want} ready replacement pods ({selector})",
        timeout=timeout,
        describe=lambda: f"ready and not terminating: {last or 'none'}",
        progress=progress,
    )


def delete_pods_one_by_one(
    kube: Kube,
    namespace: str,
    deployment: str,
    *,
    timeout_per_pod: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> DisruptionRecord:
    """Delete every pod of the Deployment, one at a time: the next one only after its
    replacement is Ready (so capacity never drops by more than one pod)."""
    rec = DisruptionRecord("delete-one-by-one", started=time.time())
    selector = _selector(kube, namespace, deployment)
    original = serving_pods(kube, namespace, selector)
    want = len(original)
    deleted: set[str] = set()
    for pod in original:
        name = pod.metadata.name
        rec.act("delete", pod=name)
        kube.core.delete_namespaced_pod(name, namespace)
        deleted.add(name)
        _wait_serving(kube, namespace, selector, want, deleted, timeout_per_pod, progress)
        rec.act("replacement_ready", after=name)
    rec.finished = time.time()
    return rec


def rollout_restart(
    kube: Kube,
    namespace: str,
    deployment: str,
    *,
    timeout: float = 300.0,
    progress: Callable[[str], None] | None = None,
) -> DisruptionRecord:
    """What `kubectl rollout restart` does: stamp the pod template, wait for the rollout."""
    rec = DisruptionRecord("rollout-restart", started=time.time())
    stamp = datetime.now(UTC).isoformat()
    body = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}
        }
    }
    rec.act("restart", restarted_at=stamp)
    kube.apps.patch_namespaced_deployment(deployment, namespace, body)
    _wait_rollout(kube, namespace, deployment, timeout, progress)
    rec.act("rollout_complete")
    rec.finished = time.time()
    return rec


def scale_down(
    kube: Kube,
    namespace: str,
    deployment: str,
    replicas: int,
    *,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> DisruptionRecord:
    rec = DisruptionRecord("scale-down", started=time.time())
    rec.act("scale", replicas=replicas)
    kube.apps.patch_namespaced_deployment_scale(
        deployment, namespace, {"spec": {"replicas": replicas}}
    )
    _wait_rollout(kube, namespace, deployment, timeout, progress)
    rec.act("scaled", replicas=replicas)
    rec.finished = time.time()
    return rec


def _wait_rollout(
    kube: Kube,
    namespace: str,
    deployment: str,
    timeout: float,
    progress: Callable[[str], None] | None,
) -> None:
    state: list[str] = []

    def probe() -> bool | None:
        d = kube.apps.read_namespaced_deployment(deployment, namespace)
        st = d.status
        want = d.spec.replicas
        state[:] = [
            f"generation {d.metadata.generation}/{st.observed_generation}, updated "
            f"{st.updated_replicas}, replicas {st.replicas}, available {st.available_replicas} "
            f"of {want}"
        ]
        done = (
            (st.observed_generation or 0) >= (d.metadata.generation or 0)
            and (st.updated_replicas or 0) == want
            and (st.replicas or 0) == want
            and (st.available_replicas or 0) == want
        )
        return True if done else None

    wait_for(
        probe,
        what=f"rollout of deployment {namespace}/{deployment}",
        timeout=timeout,
        describe=lambda: state[0] if state else "no status yet",
        progress=progress,
    )


def wait_all_gone(
    kube: Kube,
    namespace: str,
    names: set[str],
    *,
    timeout: float,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Wait until none of the named pods exists any more (their termination finished)."""
    left: list[str] = []

    def probe() -> bool | None:
        pods = {p.metadata.name for p in kube.core.list_namespaced_pod(namespace).items}
        left[:] = sorted(names & pods)
        return True if not left else None

    wait_for(
        probe,
        what=f"terminating pods to finish ({len(names)})",
        timeout=timeout,
        describe=lambda: f"still there: {left}",
        progress=progress,
    )
