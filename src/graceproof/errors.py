"""Exceptions graceproof raises; each message says what failed and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class GraceproofError(Exception):
    """Base class of every error graceproof raises on purpose."""


class OptionError(GraceproofError, ValueError):
    """A graceproof option (CLI flag or GRACEPROOF_* variable) is invalid or conflicts."""


_INSTALL_HINTS = {
    "kind": "install kind v0.33.0 (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
    "docker": "install Docker (https://docs.docker.com/engine/install/) and start its daemon",
    "ctr": "install containerd's ctr client, or set CTR=/path/to/ctr in cluster.env",
}


class MissingToolError(GraceproofError):
    """A program graceproof needs is not on PATH."""

    def __init__(self, tool: str, needed_for: str, hint: str | None = None) -> None:
        self.tool = tool
        self.hint = hint or _INSTALL_HINTS.get(tool, f"install {tool}")
        super().__init__(
            f"{tool!r} was not found on PATH; it is needed {needed_for}. To fix: {self.hint}."
        )


class CommandFailedError(GraceproofError):
    """An external command (kind, ctr) exited with an error."""

    def __init__(self, argv: Sequence[str], returncode: int | None, output: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        status = "timed out" if returncode is None else f"exited with status {returncode}"
        super().__init__(f"command {' '.join(self.argv)} {status}:\n{output.strip()}")


class BadKubeconfigError(GraceproofError):
    """The kubeconfig file is missing, unreadable, malformed or rejected."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"kubeconfig {path} cannot be used: {reason}")


class ClusterUnreachableError(GraceproofError):
    """The API server named in a kubeconfig did not answer."""

    def __init__(self, kubeconfig: Path, server: str, cause: BaseException | str) -> None:
        self.kubeconfig = kubeconfig
        self.server = server
        self.cause = cause
        super().__init__(
            f"the Kubernetes API server {server} (from kubeconfig {kubeconfig}) is not reachable: "
            f"{_short(cause)}. Is the cluster running? Check with "
            f"`kubectl --kubeconfig {kubeconfig} version`."
        )


class ManifestRejectedError(GraceproofError):
    """An object could not be created; `message` is the rejecter's own text.

    `status` is the HTTP status of the API server's answer, or 0 when the kubernetes
    client refused the manifest before sending it (it validates bodies itself).
    """

    def __init__(self, kind: str, name: str, status: int, message: str) -> None:
        self.kind = kind
        self.name = name
        self.status = status
        self.message = message
        by = (
            f"the API server rejected (HTTP {status})"
            if status
            else "the kubernetes client refused"
        )
        super().__init__(f"{by} {kind} {name!r}: {message}")


class ExecError(GraceproofError):
    """A command run in a container with exec failed."""

    def __init__(self, pod: str, container: str, command: Sequence[str], detail: str) -> None:
        self.pod = pod
        self.container = container
        self.command = list(command)
        super().__init__(f"exec {self.command} in {pod}/{container} failed: {detail}")


class KindSetupError(GraceproofError):
    """This machine cannot create the kind cluster as asked: Docker, kind, the node
    image or a host port of the kind config is not as kind needs it."""


class ImageNotAvailableError(GraceproofError):
    """The workload image is not in the cluster's image store and cannot be pulled."""


class WorkloadStartError(GraceproofError):
    """A pod of the workload cannot start (crash loop, bad container config)."""


class TargetUnreachableError(GraceproofError):
    """The workload is ready, but its Service's port does not answer the load's request."""


class WorkloadSpecError(GraceproofError, ValueError):
    """A workload, hook or disruption parameter is out of range."""


class EvictionRefusedError(WorkloadSpecError):
    """The Eviction API kept refusing a pod (HTTP 429) until the disruption's timeout:
    a PodDisruptionBudget that the drain cannot satisfy. Bad input, like a parameter out
    of range: the budget, the replicas or the nodes must change, not the wait."""

    def __init__(
        self,
        pod: str,
        namespace: str,
        timeout: float,
        attempts: int,
        budgets: Sequence[str],
        last_message: str,
        hint: str | None = None,
        *,
        budgets_unlisted: str | None = None,
    ) -> None:
        self.pod = pod
        self.namespace = namespace
        self.timeout = timeout
        self.attempts = attempts
        self.budgets = list(budgets)
        self.last_message = last_message
        self.budgets_unlisted = budgets_unlisted
        lines = [
            f"the eviction of pod {namespace}/{pod} was refused {attempts} times in "
            f"{timeout:g}s (HTTP 429); the API server's last answer: {last_message}",
        ]
        if budgets_unlisted is not None:
            # Unknown is not "none": the throttling advice below would mislead.
            lines += [
                "listing the namespace's PodDisruptionBudgets failed as well "
                f"({budgets_unlisted}), so the budget that refused the pod cannot be named; "
                f"see them with: kubectl get poddisruptionbudgets -n {namespace} -o wide",
                "fix: let the budget selecting the pod allow a disruption (lower "
                "minAvailable or raise maxUnavailable, or add replicas)",
            ]
        elif self.budgets:
            lines += [f"PodDisruptionBudget {b}" for b in self.budgets]
            lines.append(
                "fix: let the budget allow a disruption (lower minAvailable or raise "
                "maxUnavailable, or add replicas), and make sure the replacements can "
                "become Ready on another schedulable node"
            )
        else:
            lines.append(
                "no PodDisruptionBudget in the namespace selects the pod: the 429 came "
                "from the API server itself (throttling); rerun, or raise the timeout"
            )
        if hint:
            lines.append(f"hint: {hint}")
        super().__init__("\n  ".join(lines))


class LoadError(GraceproofError, RuntimeError):
    """The load generator could not run or produced nothing usable."""


class ReportWriteError(GraceproofError, OSError):
    """A result or report file could not be written (no such folder, read-only, disk
    full). The files written before it are kept."""


class ResultSchemaError(GraceproofError, ValueError):
    """A file is not a graceproof result of a schema this version can read."""


class TimelineError(GraceproofError, RuntimeError):
    """A watch of the timeline died during a run: the run's verdict would rest on gaps."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__(
            "the timeline lost a watch, so termination windows may be incomplete: "
            + "; ".join(self.errors)
            + ". Check the API server's health and rerun."
        )


class WatchOutageError(GraceproofError, RuntimeError):
    """A source of the timeline could not reach the API server for longer than the
    recorder waits: a restart takes seconds; this is a cluster in trouble."""

    def __init__(self, source: str, seconds: float, attempts: int, last_error: str) -> None:
        self.source = source
        self.seconds = seconds
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(
            f"the {source} source was cut off from the API server for {seconds:.0f} s "
            f"({attempts} retries); last error: {last_error}"
        )


class WaitTimeout(GraceproofError):
    """A bounded wait ran out of time; carries what was last seen."""

    def __init__(
        self,
        what: str,
        timeout: float,
        last_state: str,
        last_error: BaseException | None = None,
        hint: str | None = None,
    ) -> None:
        self.what = what
        self.timeout = timeout
        self.last_state = last_state
        self.last_error = last_error
        self.hint = hint
        lines = [f"timed out after {timeout:g}s waiting for {what}", f"last state: {last_state}"]
        if last_error is not None:
            lines.append(f"last transient error: {_short(last_error)}")
        if hint:
            lines.append(f"hint: {hint}")
        super().__init__("\n  ".join(lines))


def _short(cause: BaseException | str, limit: int = 500) -> str:
    text = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
