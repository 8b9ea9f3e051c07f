"""One labelled namespace per test, and the sweeps that remove leftovers.

Every namespace graceproof creates carries `app.kubernetes.io/managed-by=graceproof`
and the session's `graceproof.dev/run-id`, so a later sweep finds exactly what a run
made, even after a crash or Ctrl-C. Namespaces kept for a failed test get
`graceproof.dev/kept=true` and survive the run's own sweep (not `make clean`).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kubernetes.client.exceptions import ApiException

from graceproof.errors import WaitTimeout
from graceproof.kube import Kube
from graceproof.waiting import REQUEST_TIMEOUT, default_service_account, wait_for

__all__ = [
    "KEPT_LABEL",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "RUN_ID_LABEL",
    "delete_all_graceproof_namespaces",
    "delete_namespaces",
    "delete_run_namespaces",
    "finished_here",
    "namespace_name",
    "namespaces_to_clean",
    "pid_namespace",
    "reap_run_namespaces",
    "release",
    "test_namespace",
    "wait_namespaces_gone",
]

log = logging.getLogger(__name__)

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "graceproof"
RUN_ID_LABEL = "graceproof.dev/run-id"
KEPT_LABEL = "graceproof.dev/kept"
# Which machine and process made a namespace: `graceproof clean` removes by default only
# this machine's runs whose process has ended, never a concurrent run's.
HOST_LABEL = "graceproof.dev/host"
PID_LABEL = "graceproof.dev/pid"
# The pid's namespace: containers that share the host's name (--network host, a pod's
# hostNetwork) number their processes apart, and a pid from one means nothing in another.
PIDNS_LABEL = "graceproof.dev/pidns"
_MAX_NAME = 63  # a namespace name is a DNS-1123 label
_RAND_LEN = 5
_DELETE_TIMEOUT = 120.0  # namespace deletion waits for every pod's grace period
# The default ServiceAccount comes some 0.1 s after its namespace: a short poll, so
# that each proof does not wait half a second more for it.
_SA_INTERVAL = 0.05


def namespace_name(run_id: str, test_name: str, rand: str | None = None) -> str:
    """`gp-<run_id>-<slug of test_name>-<rand>`, a valid DNS-1123 label."""
    rand = rand or secrets.token_hex(3)[:_RAND_LEN]
    room = _MAX_NAME - len(f"gp-{run_id}--{rand}")
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[: max(room, 0)].strip("-")
    return "-".join(part for part in ("gp", run_id, slug, rand) if part)


def this_host() -> str:
    """This machine's name as a label value (63 characters of [a-z0-9.-_] at most)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", socket.gethostname())[:63].strip("-._")
    return name or "unknown"


def pid_namespace() -> str:
    """This process's pid namespace (the inode of /proc/self/ns/pid), "" if unknown."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _labels(run_id: str) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        RUN_ID_LABEL: run_id,
        HOST_LABEL: this_host(),
        PID_LABEL: str(os.getpid()),
        PIDNS_LABEL: pid_namespace(),
    }


def finished_here(labels: dict[str, str]) -> bool:
    """Whether the run that made a namespace with `labels` ran on this machine, in this
    pid namespace, and its process has ended. Unknown is never finished."""
    return (
        labels.get(HOST_LABEL) == this_host()
        and labels.get(PIDNS_LABEL) == pid_namespace() != ""
        and not _alive(labels.get(PID_LABEL, ""))
    )


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


@contextmanager
def test_namespace(
    kube: Kube,
    run_id: str,
    test_name: str,
    keep_on_failure: Callable[[], bool],
    *,
    delete_timeout: float = _DELETE_TIMEOUT,
    wait: bool = True,
) -> Iterator[str]:
    """Create a labelled namespace for one test, yield its name, then delete it,
    unless `keep_on_failure()` says to keep it. With `wait`, return once it is gone;
    without, once its Services and pods are (see `delete_namespaces`)."""
    name = namespace_name(run_id, test_name)
    kube.core.create_namespace(
        {"metadata": {"name": name, "labels": _labels(run_id)}}, _request_timeout=REQUEST_TIMEOUT
    )
    keep = False
    try:
        # Pods cannot be created before the namespace's default ServiceAccount exists.
        default_service_account(kube.core, name).wait(timeout=30, interval=_SA_INTERVAL)
        yield name
        keep = keep_on_failure()
    except BaseException:
        keep = keep_on_failure()
        raise
    finally:
        if keep:
            _mark_kept(kube, name)
        else:
            delete_namespaces(kube, [name], timeout=delete_timeout, wait=wait)


def _mark_kept(kube: Kube, name: str) -> None:
    kube.core.patch_namespace(
        name, {"metadata": {"labels": {KEPT_LABEL: "true"}}}, _request_timeout=REQUEST_TIMEOUT
    )
    log.warning(
        "kept namespace %s of a failed test; delete it with: kubectl --kubeconfig %s "
        "delete namespace %s",
        name,
        kube.kubeconfig,
        name,
    )


def delete_namespaces(
    kube: Kube, names: list[str], *, timeout: float = _DELETE_TIMEOUT, wait: bool = True
) -> None:
    """Delete `names`; with `wait`, until (bounded) none of them exists any more.

    Their pods then go at once (grace period 0): this is teardown, after every
    measurement of the test; waiting for each pod's preStop hook and grace period
    again would only cost time (5-30 s per namespace). The namespace is deleted first:
    in a terminating namespace no controller can create a replacement pod. Its
    Services are deleted at once too, which frees their NodePorts for the next test:
    the namespace controller takes some 5 s more to remove the rest (measured with
    the former benchmarks/phases.py, 5.4 s), which a run need not wait for proof by
    proof (`reap_run_namespaces` waits for all of them at its end).

    Without `wait` it still waits for one thing: a Service a finalizer keeps (a
    load balancer's cleanup) holds its NodePort until it goes, and the next proof
    on that port would be refused ("provided port is already allocated")."""
    for name in names:
        try:
            kube.core.delete_namespace(name, _request_timeout=REQUEST_TIMEOUT)
            kube.core.delete_collection_namespaced_service(name, _request_timeout=REQUEST_TIMEOUT)
            kube.core.delete_collection_namespaced_pod(
                name, grace_period_seconds=0, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
    if not names:
        return
    if not wait:
        _wait_node_ports_freed(kube, names, timeout)
        return
    wait_namespaces_gone(kube, names, timeout=timeout)


def release(kube: Kube, name: str, *, timeout: float = _DELETE_TIMEOUT) -> None:
    """Empty namespace `name` of what a proof deployed, while it stays: its workload
    controllers, Services and pods (grace period 0, as at teardown), and return once
    its NodePorts are free (bounded). For a proof run again in another namespace
    (graceproof.controls) while the test's own namespace stays until the test ends:
    the same NodePort is then free to take, and the old pods use no CPU."""
    # The workloads a proof deploys (docs/rbac.yaml grants deletecollection on them);
    # a Deployment's ReplicaSets go with it, and the pods below at once.
    for delete in (
        kube.apps.delete_collection_namespaced_deployment,
        kube.apps.delete_collection_namespaced_stateful_set,
        kube.core.delete_collection_namespaced_service,
    ):
        delete(name, _request_timeout=REQUEST_TIMEOUT)
    kube.core.delete_collection_namespaced_pod(
        name, grace_period_seconds=0, _request_timeout=REQUEST_TIMEOUT
    )
    _wait_node_ports_freed(kube, [name], timeout)


def wait_namespaces_gone(kube: Kube, names: list[str], *, timeout: float = _DELETE_TIMEOUT) -> None:
    """Wait, bounded, until none of `names` (already deleted) exists any more."""
    remaining: list[str] = list(names)

    def all_gone() -> bool | None:
        remaining[:] = [n for n in remaining if _exists(kube, n)]
        return True if not remaining else None

    wait_for(
        all_gone,
        what=f"namespace(s) {', '.join(names)} to be deleted",
        timeout=timeout,
        interval=0.25,
        describe=lambda: f"still present: {', '.join(remaining)}",
        hint="pods with long grace periods or a stuck finalizer delay namespace deletion",
    )


def _holding_node_ports(kube: Kube, names: list[str]) -> list[str]:
    """`namespace/service` of each Service still there (a finalizer) with a NodePort."""
    held: list[str] = []
    for name in names:
        try:
            services = kube.core.list_namespaced_service(
                name, _request_timeout=REQUEST_TIMEOUT
            ).items
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        for svc in services:
            ports = (svc.spec.ports if svc.spec is not None else None) or []
            if any(getattr(p, "node_port", None) for p in ports):
                held.append(f"{name}/{svc.metadata.name}")
    return held


def _wait_node_ports_freed(kube: Kube, names: list[str], timeout: float) -> None:
    held = _holding_node_ports(kube, names)
    if not held:
        return  # the usual case: deleted Services free their ports at once
    log.info("waiting for Service(s) %s to release their NodePorts", ", ".join(held))

    def freed() -> bool | None:
        held[:] = _holding_node_ports(kube, names)
        return True if not held else None

    wait_for(
        freed,
        what="deleted Services to release their NodePorts",
        timeout=timeout,
        interval=0.25,
        describe=lambda: f"still there: {', '.join(held)}",
        hint="a finalizer (a load balancer's cleanup) keeps a deleted Service",
    )


def _exists(kube: Kube, name: str) -> bool:
    try:
        kube.core.read_namespace(name, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _list(kube: Kube, selector: str, *, terminating: bool = True) -> list[str]:
    items = kube.core.list_namespace(
        label_selector=selector, _request_timeout=REQUEST_TIMEOUT
    ).items
    return [
        str(ns.metadata.name)
        for ns in items
        if terminating or ns.metadata.deletion_timestamp is None
    ]


def delete_run_namespaces(
    kube: Kube, run_id: str, *, timeout: float = _DELETE_TIMEOUT
) -> list[str]:
    """Delete every namespace of run `run_id` except those kept for a failed test, and
    wait until all of them are gone, those already being deleted too. Returns the
    names it had to delete (leftovers: not yet being deleted)."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_ID_LABEL}={run_id},!{KEPT_LABEL}"
    leftovers = _list(kube, selector, terminating=False)
    delete_namespaces(kube, _list(kube, selector), timeout=timeout)
    return leftovers


def reap_run_namespaces(kube: Kube, run_id: str, *, timeout: float = _DELETE_TIMEOUT) -> list[str]:
    """The end of a run (a pytest session, `graceproof prove`), also after Ctrl-C:
    delete what is left of run `run_id` and wait, bounded, for every namespace it
    deleted without waiting. Never raises for a namespace that would not go: a warning
    names it and how to remove it later. Returns those still there."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_ID_LABEL}={run_id},!{KEPT_LABEL}"
    try:
        left = delete_run_namespaces(kube, run_id, timeout=timeout)
    except WaitTimeout:
        stuck = _list(kube, selector)
        log.warning(
            "graceproof: %d namespace(s) of run %s still there after %g s: %s; remove "
            "them later with: graceproof clean --run-id %s",
            len(stuck),
            run_id,
            timeout,
            ", ".join(stuck),
            run_id,
        )
        return stuck
    if left:
        log.warning(
            "graceproof: deleted leftover namespaces of run %s: %s", run_id, ", ".join(left)
        )
    return []


def delete_all_graceproof_namespaces(kube: Kube, *, timeout: float = _DELETE_TIMEOUT) -> list[str]:
    """Delete every namespace graceproof ever created in this cluster, kept ones too."""
    names = _list(kube, f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
    delete_namespaces(kube, names, timeout=timeout)
    return names


def namespaces_to_clean(
    kube: Kube, *, run_id: str | None = None, everything: bool = False
) -> tuple[list[str], list[str]]:
    """(to delete, left alone) among graceproof's namespaces: with `everything`, all;
    with `run_id`, that run's; by default those of this machine's finished runs (their
    process is gone: `finished_here`). A namespace without those labels is left alone
    but for `everything` or its `run_id`."""
    items = kube.core.list_namespace(
        label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}", _request_timeout=REQUEST_TIMEOUT
    ).items
    chosen: list[str] = []
    alone: list[str] = []
    for ns in items:
        labels = ns.metadata.labels or {}
        if everything:
            mine = True
        elif run_id is not None:
            mine = labels.get(RUN_ID_LABEL) == run_id
        else:
            mine = finished_here(labels)
        (chosen if mine else alone).append(str(ns.metadata.name))
    return sorted(chosen), sorted(alone)


# Not a test, despite its name: keep pytest from collecting it where it is imported.
test_namespace.__test__ = False  # type: ignore[attr-defined]
