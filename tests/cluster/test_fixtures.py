"""The plugin's fixtures against a real cluster, through inner pytest sessions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from graceproof.errors import ExecError
from graceproof.kube import Kube
from graceproof.namespaces import (
    KEPT_LABEL,
    MANAGED_BY_LABEL,
    RUN_ID_LABEL,
    delete_namespaces,
    delete_run_namespaces,
    namespace_name,
    test_namespace,
)
from graceproof.waiting import pod_ready

pytestmark = pytest.mark.cluster

WORKLOAD_IMAGE = "graceproof/workload:0.1.0"


def run_namespaces(kube: Kube, run_id: str) -> list[str]:
    items = kube.core.list_namespace(label_selector=f"{RUN_ID_LABEL}={run_id}").items
    return [ns.metadata.name for ns in items]


def exists(kube: Kube, name: str) -> bool:
    try:
        kube.core.read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_namespace_fixture_creates_a_labelled_namespace_and_deletes_it_after(
    run_inner: Any, pytester: pytest.Pytester, inner_cluster_args: list[str], kube: Kube
) -> None:
    run_id = inner_cluster_args[-1]
    pytester.makepyfile(
        """
        from pathlib import Path

        def test_uses_a_namespace(namespace, kube, graceproof_options):
            Path("seen.txt").write_text(namespace)
            labels = kube.core.read_namespace(namespace).metadata.labels
            assert labels["app.kubernetes.io/managed-by"] == "graceproof"
            assert labels["graceproof.dev/run-id"] == graceproof_options.run_id
            assert kube.core.read_namespaced_service_account("default", namespace)
        """
    )
    result = run_inner(*inner_cluster_args)
    result.assert_outcomes(passed=1)
    name = (pytester.path / "seen.txt").read_text()
    assert re.fullmatch(rf"gp-{run_id}-test-uses-a-namespace-[0-9a-f]{{5}}", name)
    assert not exists(kube, name)
    assert run_namespaces(kube, run_id) == []


def test_a_failed_test_keeps_its_namespace_with_keep_failed(
    run_inner: Any, pytester: pytest.Pytester, inner_cluster_args: list[str], kube: Kube
) -> None:
    run_id = inner_cluster_args[-1]
    pytester.makepyfile(
        """
        from pathlib import Path

        def test_fails(namespace):
            Path("seen.txt").write_text(namespace)
            assert False, "failing on purpose"
        """
    )
    try:
        result = run_inner(*inner_cluster_args, "--gp-keep-failed")
        result.assert_outcomes(failed=1)
        name = (pytester.path / "seen.txt").read_text()
        # The run's own end-of-session sweep left it alone, too.
        labels = kube.core.read_namespace(name).metadata.labels
        assert labels[KEPT_LABEL] == "true"
        assert labels[MANAGED_BY_LABEL] == "graceproof"
        result.stdout.fnmatch_lines(["*graceproof kept namespaces*", name])
    finally:
        names = run_namespaces(kube, run_id)
        delete_namespaces(kube, names)
    assert run_namespaces(kube, run_id) == []


def test_a_failed_test_without_keep_failed_loses_its_namespace(
    run_inner: Any, pytester: pytest.Pytester, inner_cluster_args: list[str], kube: Kube
) -> None:
    run_id = inner_cluster_args[-1]
    pytester.makepyfile(
        """
        def test_fails(namespace):
            assert False
        """
    )
    run_inner(*inner_cluster_args).assert_outcomes(failed=1)
    assert run_namespaces(kube, run_id) == []


DIAG_TEST = """
import time

from graceproof.model import TimelineEvent
from graceproof.waiting import wait_for

APP = "print('app-says-hello', flush=True); import time; time.sleep(3600)"
# Crashes on its first run, stays up on its second: then --previous has the first run.
CRASHER = (
    "import os, time\\n"
    "if os.path.exists('/state/ran'):\\n"
    "    print('crasher-second-run', flush=True); time.sleep(3600)\\n"
    "open('/state/ran', 'w').close(); print('crasher-first-run', flush=True); raise SystemExit(3)"
)


def container(name, code):
    return {
        "name": name,
        "image": "IMAGE",
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", code],
        "volumeMounts": [{"name": "state", "mountPath": "/state"}],
    }


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "diag"},
    "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [container("app", APP), container("crasher", CRASHER)],
        "volumes": [{"name": "state", "emptyDir": {}}],
    },
}


def ready_for_diagnosis(kube, namespace):
    pod = kube.core.read_namespaced_pod("diag", namespace)
    statuses = {s.name: s for s in pod.status.container_statuses or []}
    crasher = statuses.get("crasher")
    if crasher is None or crasher.restart_count < 1 or crasher.state.running is None:
        return None
    log = kube.core.read_namespaced_pod_log("diag", namespace, container="app")
    return pod if "app-says-hello" in log else None


def test_fails_with_a_crashing_pod(namespace, kube, timeline_sink):
    kube.apply([POD], namespace)
    event = TimelineEvent(t=time.time(), kind="disruption", pod="diag", detail={"action": "x"})
    timeline_sink.append(event)
    wait_for(
        lambda: ready_for_diagnosis(kube, namespace),
        what="crasher to restart",
        timeout=120,
        interval=1,
    )
    assert False, "failing on purpose to get diagnostics"
""".replace("IMAGE", WORKLOAD_IMAGE)


def test_a_failed_test_gets_pod_logs_events_and_artifacts(
    run_inner: Any, pytester: pytest.Pytester, inner_cluster_args: list[str], kube: Kube
) -> None:
    run_id = inner_cluster_args[-1]
    pytester.makepyfile(test_diag=DIAG_TEST)
    result = run_inner(*inner_cluster_args, "--gp-artifacts", "art")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "failing on purpose to get diagnostics" in text
    assert re.search(r"-+ graceproof: pods in gp-\S+ -+", text)
    assert re.search(r"diag on \S+: phase Running", text)
    assert re.search(r"-+ graceproof: events in gp-\S+ -+", text)
    assert re.search(r"Normal\s+Scheduled\s+Pod/diag", text)
    assert re.search(r"BackOff|Started", text)
    assert re.search(r"-+ graceproof: logs diag/app -+", text)
    assert "app-says-hello" in text
    assert re.search(r"-+ graceproof: logs diag/crasher -+\n\S+ crasher-second-run", text)
    assert re.search(r"-+ graceproof: previous logs diag/crasher -+\n\S+ crasher-first-run", text)
    assert re.search(r"-+ graceproof: timeline -+", text)

    out = pytester.path / "art" / run_id / "test_diag.py_test_fails_with_a_crashing_pod"
    files = {p.name for p in out.iterdir()}
    assert {"logs_diag_app.txt", "previous_logs_diag_crasher.txt", "timeline.json"} <= files
    assert any(name.startswith("events_in_gp-") for name in files)
    assert "crasher-first-run" in (out / "previous_logs_diag_crasher.txt").read_text()
    assert run_namespaces(kube, run_id) == []


def test_apply_creates_objects_and_exec_runs_commands(namespace: str, kube: Kube) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "app", "image": WORKLOAD_IMAGE, "imagePullPolicy": "IfNotPresent"}
            ],
        },
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
        "data": {"k": "v"},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    created = kube.apply([config_map, service, pod], namespace)
    assert [obj.metadata.name for obj in created] == ["cm", "web", "web"]
    assert kube.core.read_namespaced_config_map("cm", namespace).data == {"k": "v"}
    pod_ready(kube.core, namespace, "web").wait(120)
    code = "import sys; print('it' + chr(39) + 's', sys.argv)"
    out = kube.exec(namespace, "web", "app", ["python3", "-c", code, "a b"])
    assert out == "it's ['-c', 'a b']\n"
    with pytest.raises(ExecError, match="exit code 7"):
        kube.exec(namespace, "web", "app", ["python3", "-c", "raise SystemExit(7)"])
    assert kube.server_version().startswith("v1.")


def test_run_sweep_deletes_its_namespaces_but_not_kept_ones_nor_other_runs(
    kube: Kube, fresh_run_id: str
) -> None:
    other_run = fresh_run_id + "o"
    made: list[str] = []

    def labelled(run_id: str, test_name: str) -> str:
        # As the namespace fixture makes them, but left behind (its teardown never ran).
        name = namespace_name(run_id, test_name)
        labels = {MANAGED_BY_LABEL: "graceproof", RUN_ID_LABEL: run_id}
        kube.core.create_namespace({"metadata": {"name": name, "labels": labels}})
        made.append(name)
        return name

    try:
        with test_namespace(kube, fresh_run_id, "kept", lambda: True) as kept:
            made.append(kept)
        left = labelled(fresh_run_id, "left")
        other = labelled(other_run, "other")
        assert delete_run_namespaces(kube, fresh_run_id) == [left]
        assert not exists(kube, left)
        assert exists(kube, kept) and exists(kube, other)
    finally:
        delete_namespaces(kube, [n for n in made if exists(kube, n)])


def test_workload_image_is_available_in_the_cluster(
    workload_image: str, graceproof_options: Any
) -> None:
    # For the local cluster this checked containerd for the image (cluster.env).
    assert workload_image == graceproof_options.image


def test_a_namespace_left_without_waiting_frees_its_node_port_and_the_sweep_waits(
    kube: Kube, fresh_run_id: str
) -> None:
    """Teardown returns before the namespace controller is done (some 5 s): the
    Service is gone at once, so the next test may take the same NodePort; the end of
    the session waits for every namespace still terminating, and reports none of them
    as a leftover."""
    service = {
        "metadata": {"name": "np"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "none"},
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30078}],
        },
    }
    made: list[str] = []
    try:
        for test_name in ("first", "second"):
            with test_namespace(kube, fresh_run_id, test_name, lambda: False, wait=False) as ns:
                made.append(ns)
                kube.core.create_namespaced_service(ns, service)
        assert delete_run_namespaces(kube, fresh_run_id) == []
        assert not any(exists(kube, n) for n in made)
    finally:
        delete_namespaces(kube, [n for n in made if exists(kube, n)])
