"""The Eviction API, shared by every disruption that evicts (drain-node, evict).

An eviction is a pod deletion that the API server first checks against the
PodDisruptionBudgets selecting the pod: 201 when one more disruption is allowed, 429
while a budget allows none. `kubectl drain` retries a 429 until its timeout;
`evict_pod` does the same and records every attempt with its answer
(`record.act("evict", pod=, node=, status=201|429, reason=)`), so the result shows how
long a budget held a pod back. The eviction carries no DeleteOptions: the pod keeps
its own grace period, the behaviour under test.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kubernetes.client import V1Eviction, V1ObjectMeta
from kubernetes.client.exceptions import ApiException

from graceproof.disruptions.base import DisruptionContext
from graceproof.errors import EvictionRefusedError, WaitTimeout, WorkloadSpecError
from graceproof.kube import api_message
from graceproof.waiting import DEFAULT_TRANSIENT, REQUEST_TIMEOUT, wait_for

__all__ = ["budgets_selecting", "check_retry", "evict_pod", "selects"]

log = logging.getLogger(__name__)

# The Eviction API answers 201 Created when it accepts (the client returns no status).
EVICTED = 201
REFUSED = 429
# Connection failures are retried; an HTTP answer other than 429 or 404 is not: a 403
# (RBAC) or a 500 (a pod under two budgets) will not change by retrying.
_TRANSIENT = tuple(t for t in DEFAULT_TRANSIENT if t is not ApiException)


def check_retry(kind: str, timeout_s: float, retry_interval_s: float) -> None:
    """WorkloadSpecError unless both bounds of an eviction retry are positive."""
    if not timeout_s > 0:
        raise WorkloadSpecError(f"{kind}: timeout_s must be > 0 seconds, not {timeout_s}")
    if not 0 < retry_interval_s <= timeout_s:
        raise WorkloadSpecError(
            f"{kind}: retry_interval_s must be > 0 and <= timeout_s ({timeout_s}), "
            f"not {retry_interval_s}"
        )


def evict_pod(
    ctx: DisruptionContext,
    pod: Any,
    *,
    timeout: float,
    interval: float,
    hint: str | None = None,
) -> None:
    """Evict `pod` (a V1Pod of ctx.namespace), retrying every `interval` s while the API
    answers 429; return once it is accepted (or the pod is already gone: 404).

    Raises EvictionRefusedError naming the PodDisruptionBudgets that select the pod and
    their status when it is still refused after `timeout` s; any other API error at once.
    """
    name = pod.metadata.name
    node = pod.spec.node_name if pod.spec is not None else None
    body = V1Eviction(
        api_version="policy/v1",
        kind="Eviction",
        metadata=V1ObjectMeta(name=name, namespace=ctx.namespace),
    )
    refusals: list[str] = []

    def attempt() -> bool | None:
        try:
            ctx.kube.core.create_namespaced_pod_eviction(
                name, ctx.namespace, body, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            reason = api_message(exc)
            ctx.record.act("evict", pod=name, node=node, status=exc.status, reason=reason)
            if exc.status == REFUSED:
                refusals.append(reason)
                return None
            if exc.status == 404:  # already gone: nothing left to evict (as kubectl drain)
                return True
            raise
        ctx.record.act("evict", pod=name, node=node, status=EVICTED, reason="evicted")
        return True

    log.info("evicting pod %s on node %s (its own grace period)", name, node)
    try:
        wait_for(
            attempt,
            what=f"the eviction of pod {ctx.namespace}/{name} to be accepted",
            timeout=timeout,
            interval=interval,
            transient=_TRANSIENT,
            describe=lambda: f"{len(refusals)} refusals (HTTP 429); last: {_last(refusals)}",
            hint=hint,
        )
    except WaitTimeout as exc:
        if not refusals:  # no answer at all: the API server was unreachable
            raise
        raise _refused(ctx, pod, timeout, refusals, hint) from exc


def _last(refusals: list[str]) -> str:
    return refusals[-1] if refusals else "no answer yet"


def _refused(
    ctx: DisruptionContext, pod: Any, timeout: float, refusals: list[str], hint: str | None
) -> EvictionRefusedError:
    """The error for a pod still refused after `timeout`, naming the budgets."""
    budgets, unlisted = _budgets_or_why(ctx, pod)
    return EvictionRefusedError(
        pod.metadata.name,
        ctx.namespace,
        timeout,
        len(refusals),
        budgets,
        refusals[-1],
        hint,
        budgets_unlisted=unlisted,
    )


def _budgets_or_why(ctx: DisruptionContext, pod: Any) -> tuple[list[str], str | None]:
    """The budgets selecting `pod`, or none and why they could not be listed: the error
    being raised is about the refusal, and a failed look-up (an HTTP error, or the API
    server gone) must neither hide it nor pass for "no budget selects the pod"."""
    try:
        return budgets_selecting(ctx, pod), None
    except ApiException as exc:
        return [], f"HTTP {exc.status}: {api_message(exc)}"
    except _TRANSIENT as exc:
        return [], f"{type(exc).__name__}: {exc}"


def budgets_selecting(ctx: DisruptionContext, pod: Any) -> list[str]:
    """Each PodDisruptionBudget of the namespace that selects `pod`, described with its
    rule and status: `web (minAvailable=3): currentHealthy=3, desiredHealthy=3, ...`.
    A failure to list them propagates."""
    labels = dict(pod.metadata.labels or {})
    pdbs = ctx.kube.policy.list_namespaced_pod_disruption_budget(
        ctx.namespace, _request_timeout=REQUEST_TIMEOUT
    ).items
    return [_describe(p) for p in pdbs if selects(p.spec.selector, labels)]


def _describe(pdb: Any) -> str:
    spec, st = pdb.spec, pdb.status
    rule = (
        f"minAvailable={spec.min_available}"
        if spec.min_available is not None
        else f"maxUnavailable={spec.max_unavailable}"
    )
    if st is None:
        return f"{pdb.metadata.name} ({rule}): no status yet (the disruption controller lags)"
    return (
        f"{pdb.metadata.name} ({rule}): currentHealthy={st.current_healthy}, "
        f"desiredHealthy={st.desired_healthy}, disruptionsAllowed={st.disruptions_allowed}, "
        f"expectedPods={st.expected_pods}"
    )


def selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether a V1LabelSelector selects a pod with `labels` (policy/v1 semantics: a
    null selector selects nothing, an empty one everything)."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for expr in selector.match_expressions or []:
        key, values = expr.key, set(expr.values or [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": not (key in labels and labels[key] in values),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(expr.operator, False)
        if not matched:
            return False
    return True
