"""A Kubernetes API client bound to one kubeconfig file, never to global state.

`kubernetes.config.load_kube_config` sets a process-wide default configuration;
graceproof builds its own `ApiClient` from the file it is given instead, so two
clusters (or a user's own default) never get mixed up.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import urllib3.exceptions
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.utils.create_from_yaml import create_from_yaml_single_item

from graceproof.errors import (
    BadKubeconfigError,
    ClusterUnreachableError,
    ExecError,
    ManifestRejectedError,
)

__all__ = ["REQUEST_TIMEOUT", "Kube", "api_message"]

# Per API call: the client has no timeout of its own, and a hung call would outlast
# any deadline of the wait around it.
REQUEST_TIMEOUT = 10.0

# Errors of a connection that never got an HTTP answer.
_UNREACHABLE = (
    urllib3.exceptions.HTTPError,  # MaxRetryError, NewConnectionError, SSLError, timeouts
    ConnectionError,
    TimeoutError,
)


def api_message(exc: ApiException) -> str:
    """The API server's own message from an ApiException (its Status `message`)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            return str(body).strip()
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
        return str(body).strip()
    return str(exc.reason or f"HTTP {exc.status}")


class Kube:
    """API access to one cluster: typed API groups, apply, exec."""

    def __init__(self, api_client: Any, kubeconfig: Path) -> None:
        self.api_client = api_client
        self.kubeconfig = kubeconfig
        self._exec_client: Any = None
        self._exec_lock = threading.Lock()

    @property
    def server(self) -> str:
        """The API server URL."""
        return str(self.api_client.configuration.host)

    @classmethod
    def from_kubeconfig(cls, path: Path, *, check_timeout: float = 5.0) -> Kube:
        """Client for the current context of `path`, checked with a `/version` call.

        Raises BadKubeconfigError when the file is missing or unusable and
        ClusterUnreachableError when its server does not answer within `check_timeout` s.
        """
        kube = cls(_new_api_client(path), path)
        try:
            kube._version(check_timeout)
        except ApiException as exc:
            kube.close()
            if exc.status in (401, 403):
                raise BadKubeconfigError(
                    path,
                    f"the API server {kube.server} rejected its credentials: {api_message(exc)}",
                ) from exc
            raise ClusterUnreachableError(
                path, kube.server, f"HTTP {exc.status}: {api_message(exc)}"
            ) from exc
        except _UNREACHABLE as exc:
            kube.close()
            raise ClusterUnreachableError(path, kube.server, exc) from exc
        return kube

    # API groups -------------------------------------------------------------------
    @property
    def core(self) -> Any:
        return k8s.CoreV1Api(self.api_client)

    @property
    def apps(self) -> Any:
        return k8s.AppsV1Api(self.api_client)

    @property
    def discovery(self) -> Any:
        return k8s.DiscoveryV1Api(self.api_client)

    @property
    def policy(self) -> Any:
        """policy/v1: PodDisruptionBudgets (evictions are a pod subresource, in core)."""
        return k8s.PolicyV1Api(self.api_client)

    @property
    def extensions(self) -> Any:
        """apiextensions.k8s.io/v1: CustomResourceDefinitions."""
        return k8s.ApiextensionsV1Api(self.api_client)

    @property
    def custom(self) -> Any:
        """Objects of custom resources (Gateway API's), which `apply` cannot create."""
        return k8s.CustomObjectsApi(self.api_client)

    def _version(self, timeout: float | None = None) -> Any:
        # `timeout` bounds each connection attempt, so an unreachable server fails fast.
        return k8s.VersionApi(self.api_client).get_code(_request_timeout=timeout)

    def server_version(self) -> str:
        """The API server's git version, e.g. 'v1.34.4'."""
        return str(self._version(10.0).git_version)

    # Objects ----------------------------------------------------------------------
    def apply(self, docs: Iterable[Mapping[str, Any]], namespace: str) -> list[Any]:
        """Create each manifest in `namespace` (unless the manifest names its own).

        Raises ManifestRejectedError with the API server's message when it refuses an
        object (4xx); objects before it stay created (they live in the test namespace).
        """
        created = []
        for doc in docs:
            body = copy.deepcopy(dict(doc))
            kind = str(body.get("kind", "?"))
            name = str((body.get("metadata") or {}).get("name", "?"))
            try:
                created.append(
                    create_from_yaml_single_item(  # type: ignore[no-untyped-call]
                        self.api_client,
                        body,
                        namespace=namespace,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
            except ApiException as exc:
                if exc.status is not None and 400 <= exc.status < 500:
                    raise ManifestRejectedError(kind, name, exc.status, api_message(exc)) from exc
                raise
            except AttributeError as exc:
                # create_from_yaml looks the API class and create method up by name.
                raise ManifestRejectedError(
                    kind, name, 0, f"no create call for apiVersion {body.get('apiVersion')}"
                ) from exc
            except ValueError as exc:
                # The client validates bodies against its models (pydantic) before sending.
                raise ManifestRejectedError(kind, name, 0, str(exc)) from exc
        return created

    def exec(
        self,
        namespace: str,
        pod: str,
        container: str,
        command: Sequence[str],
        *,
        timeout: float = 60.0,
    ) -> str:
        """Run `command` (an argument list) in a container; return its stdout.

        Raises ExecError with stderr when it exits non-zero or does not finish in time.
        """
        # kubernetes.stream swaps the ApiClient's call_api while it runs; a dedicated
        # client behind a lock keeps that from disturbing calls in other threads.
        with self._exec_lock:
            if self._exec_client is None:
                self._exec_client = _new_api_client(self.kubeconfig)
            api = k8s.CoreV1Api(self._exec_client)
            try:
                ws = stream(
                    api.connect_get_namespaced_pod_exec,
                    pod,
                    namespace,
                    container=container,
                    command=list(command),
                    stdout=True,
                    stderr=True,
                    stdin=False,
                    tty=False,
                    _preload_content=False,
                )
            except ApiException as exc:
                raise ExecError(pod, container, command, api_message(exc)) from exc
            try:
                ws.run_forever(timeout=timeout)
                out, err = ws.read_stdout(), ws.read_stderr()
                if ws.is_open():
                    raise ExecError(pod, container, command, f"still running after {timeout:g}s")
                try:
                    code = ws.returncode
                except ValueError as exc:
                    # The client parses the error channel's cause as an exit code; a
                    # refusal ("container not found": it has ended) is not one.
                    raise ExecError(pod, container, command, str(exc)) from exc
            finally:
                ws.close()
        if code != 0:
            raise ExecError(pod, container, command, f"exit code {code}; stderr: {err.strip()}")
        return str(out)

    # Lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        for api_client in (self.api_client, self._exec_client):
            if api_client is not None:
                api_client.close()
        self._exec_client = None

    def __enter__(self) -> Kube:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_kubeconfig(path: Path) -> tuple[str, Any]:
    """The text of a kubeconfig and its parsed YAML, or BadKubeconfigError saying why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadKubeconfigError(path, f"cannot read it ({exc.strerror or exc})") from exc
    try:
        return text, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadKubeconfigError(path, f"it is not valid YAML ({exc})") from exc


def _new_api_client(path: Path) -> Any:
    """An ApiClient for `path`, or BadKubeconfigError saying what is wrong with the file."""
    _, doc = read_kubeconfig(path)
    if not isinstance(doc, dict) or not doc.get("clusters") or not doc.get("contexts"):
        raise BadKubeconfigError(path, "it has no clusters or contexts")
    try:
        return k8s_config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, ValueError, KeyError, TypeError, OSError) as exc:
        raise BadKubeconfigError(path, str(exc) or type(exc).__name__) from exc
