"""What the in-cluster load creates, and what it checks first: the ConfigMap of
graceproof's locustfiles, the Locust master's and workers' pods (their commands,
environment, resources and placement), and the target's path, labels, Service and
endpoints. A part of graceproof.placement.cluster.ClusterLoadRun (`LoadPods`).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

from graceproof import locustfiles
from graceproof.errors import LoadError, WorkloadSpecError
from graceproof.kube import api_message
from graceproof.load import LoadSettings
from graceproof.placement.base import LoadContext
from graceproof.podsecurity import RESTRICTED_CONTAINER, RESTRICTED_POD
from graceproof.traffic.base import Traffic
from graceproof.waiting import REQUEST_TIMEOUT, describe_pod, raise_if_stuck

if TYPE_CHECKING:
    from graceproof.placement.cluster import InCluster

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
    kind: Traffic
    locustfile: Path
    workers: list[str]
    address: str
    port: int
    duration_s: float
    stop_timeout_s: int

    def _master_log(self, lines: int = 40) -> str:
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

    def _service_address(self) -> tuple[str, int]:
        target = self.ctx.target
        svc = self.ctx.kube.core.read_namespaced_service(
            target.service, self.ctx.namespace, _request_timeout=REQUEST_TIMEOUT
        )
        ip = svc.spec.cluster_ip
        if not ip or ip == "None":
            raise WorkloadSpecError(
                f"service/{target.service} has no ClusterIP (headless): the in-cluster load "
                "enters a Service's ClusterIP; give the workload a Service with one"
            )
        ports = svc.spec.ports or []
        wanted = self.kind.port
        for p in ports:
            if wanted != "http" and p.name == wanted:
                return ip, int(p.port)
            if wanted == "http" and (
                len(ports) == 1 or str(p.target_port) == str(target.pod_port) or p.name == "http"
            ):
                return ip, int(p.port)
        raise WorkloadSpecError(
            f"service/{target.service} has no port named {wanted!r} for connection "
            f"{self.kind.name!r}; its ports: {[p.name or p.port for p in ports]}"
        )

    def _check_endpoints(self) -> None:
        slices = self.ctx.kube.discovery.list_namespaced_endpoint_slice(
            self.ctx.namespace,
            label_selector=f"kubernetes.io/service-name={self.ctx.target.service}",
            _request_timeout=REQUEST_TIMEOUT,
        ).items
        ready = [
            e
            for s in slices
            for e in s.endpoints or []
            if e.conditions is not None and e.conditions.ready
        ]
        if not ready:
            raise WorkloadSpecError(
                f"service/{self.ctx.target.service} has no ready endpoint: its selector "
                f"matches no Ready pod, so the load would have nothing to reach; check the "
                f"Service's selector against the pods of {self.ctx.target.ref}"
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

    def _locust(self) -> list[str]:
        return ["python3", "-m", "locust", "-f", f"/locust/{self.locustfile.name}"]

    def _master_command(self) -> list[str]:
        users = str(self.settings.users)
        locust = [
            *self._locust(),
            "--master", "--master-bind-port", str(MASTER_PORT), "--headless",
            "--users", users, "--spawn-rate", users,
            "--run-time", f"{int(self.duration_s)}s", "--stop-timeout", str(self.stop_timeout_s),
            "--host", f"http://{self.address}:{self.port}", "--only-summary",
            "--expect-workers", str(len(self.workers)),
            # The workers are created once the master runs, and may take as long.
            "--expect-workers-max-wait", str(int(2 * self.placement.start_timeout_s + 30)),
        ]  # fmt: skip
        # The container outlives Locust, so its files can be copied: Locust runs in the
        # background, its pid and then its exit status written where graceproof reads.
        script = (
            f"mkdir -p {WORK} && cd {WORK} && "
            f"{shlex.join(locust)} >{WORK}/stdout.txt 2>{WORK}/stderr.txt & "
            f"echo $! >{WORK}/pid; wait $!; echo $? >{WORK}/rc.tmp; mv {WORK}/rc.tmp {WORK}/rc; "
            "exec sleep 86400"
        )
        return ["sh", "-c", script]

    def _worker_command(self, master_ip: str) -> list[str]:
        return [
            *self._locust(),
            "--worker", "--master-host", master_ip, "--master-port", str(MASTER_PORT),
            "--host", f"http://{self.address}:{self.port}",
        ]  # fmt: skip

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
                    f"{self._master_log()}"
                )
            time.sleep(0.5)
