"""What the in-cluster load creates, and what it checks first: the ConfigMap of
graceproof's locustfiles, the Locust master's and workers' pods (their environment,
resources and placement), and the target's path and labels (its Service and endpoints:
graceproof.load.cluster.InCluster). A part of graceproof.load.cluster_run.ClusterLoadRun
(`LoadPods`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

from graceproof.errors import LoadError, WorkloadSpecError
from graceproof.kube import api_message
from graceproof.load import locustfiles
from graceproof.load.placement import LoadContext
from graceproof.load.settings import LoadSettings
from graceproof.podsecurity import RESTRICTED_CONTAINER, RESTRICTED_POD
from graceproof.waiting import REQUEST_TIMEOUT, describe_pod, raise_if_stuck

if TYPE_CHECKING:
    from graceproof.load.cluster import InCluster

__all__ = [
    "CONFIGMAP",
    "CONTAINER",
    "LOAD_LABELS",
    "MASTER",
    "MASTER_PORT",
    "NOT_LOAD_PODS",
    "ROLE_LABEL",
    "WORK",
    "LoadPods",
    "selector_pairs",
]

LOAD_LABELS = {"app.kubernetes.io/name": "graceproof-load"}
# Every pod but the load's own (a label selector).
NOT_LOAD_PODS = "app.kubernetes.io/name!=graceproof-load"
ROLE_LABEL = "graceproof.dev/load-role"
MASTER = "gp-load-master"
CONFIGMAP = "gp-load-locustfiles"
MASTER_PORT = 5557
WORK = "/gp"  # the master's files: records, counts, logs, exit status
CONTAINER = "locust"


def selector_pairs(selector: str) -> dict[str, str] | None:
    """An equality selector ("a=b,c=d") as a dict; None for set-based ones."""
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in selector.split(","))):
        key, eq, value = part.partition("=")
        if not eq or key.endswith("!") or " " in key:
            return None
        pairs[key.strip()] = value.strip().lstrip("=")
    return pairs


class LoadPods:
    """The pods and ConfigMap of a ClusterLoadRun, and its checks before it creates them."""

    placement: InCluster
    ctx: LoadContext
    settings: LoadSettings
    locustfile: Path
    workers: list[str]
    address: str
    port: int
    duration_s: float

    def log_tail(self) -> str:
        raise NotImplementedError  # ClusterLoadRun's: the master's log, for errors

    def _check_path(self) -> None:
        if self.ctx.target.through:
            raise WorkloadSpecError(
                f"{self.ctx.target.ref} is loaded through the {self.ctx.target.through} "
                "ingress controller, which an in-cluster load (it enters the Service's "
                "ClusterIP) would bypass: load it from the host (OnHost) instead"
            )

    def _check_labels(self) -> None:
        pairs = selector_pairs(self.ctx.target.selector)
        if pairs is not None and all(LOAD_LABELS.get(k) == v for k, v in pairs.items()):
            raise WorkloadSpecError(
                f"{self.ctx.target.ref}'s selector {self.ctx.target.selector!r} matches the "
                "load's own pods: they would be disrupted; give the target its own labels"
            )

    def _configmap(self) -> dict[str, Any]:
        folder = self.locustfile.parent
        files = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("locust*.py"))}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP, "labels": dict(LOAD_LABELS)},
            "data": files,
        }

    def _environment(self, pod: str, role: str) -> list[dict[str, Any]]:
        process: dict[str, Any] = {
            # No loopback NodePort path here: the kernel's source ports are fine.
            "source_ports": "kernel",
            "target_address": self.address,
            "relay": True,
            "pod": pod,
        }
        if role == "master":
            process.update(
                records=f"{WORK}/requests.jsonl",
                counts=f"{WORK}/counts.json",
                progress=f"{WORK}/progress",
            )
        env = {
            **self.settings.environment(),
            **locustfiles.environment(process),
            "PYTHONUNBUFFERED": "1",
        }
        return [{"name": k, "value": v} for k, v in sorted(env.items())]

    def _pod(self, name: str, role: str, command: list[str]) -> dict[str, Any]:
        spec: dict[str, Any] = {
            # Pod Security "restricted" (graceproof.podsecurity): Locust writes only to
            # the work volume.
            "securityContext": dict(RESTRICTED_POD),
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,
            # Gone by themselves if graceproof is killed before it deletes them.
            "activeDeadlineSeconds": int(self.duration_s + 600),
            "containers": [
                {
                    "name": CONTAINER,
                    "image": self.placement.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": command,
                    "env": self._environment(name, role),
                    "resources": self.placement.resources.render(),
                    "securityContext": dict(RESTRICTED_CONTAINER),
                    "volumeMounts": [
                        {"name": "locustfiles", "mountPath": "/locust"},
                        {"name": "work", "mountPath": WORK},
                        # The root filesystem is read-only: a library's temporary file
                        # goes here.
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [
                {"name": "locustfiles", "configMap": {"name": CONFIGMAP}},
                {"name": "work", "emptyDir": {}},
                {"name": "tmp", "emptyDir": {}},
            ],
        }
        if self.placement.node_selector:
            spec["nodeSelector"] = dict(self.placement.node_selector)
        if self.ctx.avoid_nodes:
            spec["affinity"] = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {
                                        "key": "metadata.name",
                                        "operator": "NotIn",
                                        "values": list(self.ctx.avoid_nodes),
                                    }
                                ]
                            }
                        ]
                    }
                }
            }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {**LOAD_LABELS, ROLE_LABEL: role}},
            "spec": spec,
        }

    def _create(self, pod: dict[str, Any]) -> None:
        try:
            self.ctx.kube.core.create_namespaced_pod(
                self.ctx.namespace, pod, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 403 and "quota" in api_message(exc).lower():
                raise LoadError(
                    f"the namespace's quota refused the load's pod {pod['metadata']['name']}: "
                    f"{api_message(exc)}. Raise the ResourceQuota, or lower "
                    f"InCluster(workers=..., resources=Resources(...)) (each pod asks "
                    f"{self.placement.resources.render()})"
                ) from exc
            raise

    def _wait_running(self, names: list[str]) -> dict[str, str]:
        """Each pod's IP once all run; the image, the reason or the pod's state if not."""
        deadline = time.monotonic() + self.placement.start_timeout_s
        core, ns = self.ctx.kube.core, self.ctx.namespace
        while True:
            pods = [
                core.read_namespaced_pod(n, ns, _request_timeout=REQUEST_TIMEOUT) for n in names
            ]
            raise_if_stuck(pods, "the in-cluster load (Locust)")
            ips = {p.metadata.name: p.status.pod_ip for p in pods if p.status.phase == "Running"}
            if len(ips) == len(names) and all(ips.values()):
                return ips
            done = [p for p in pods if p.status.phase in ("Succeeded", "Failed")]
            if done or time.monotonic() > deadline:
                states = "; ".join(f"{p.metadata.name}: {describe_pod(p)}" for p in pods)
                why = (
                    "ended" if done else f"did not run within {self.placement.start_timeout_s:g} s"
                )
                raise LoadError(
                    f"the in-cluster load's pods {why}: {states}; Locust master's log:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.5)
