"""Pod Security: what graceproof's own pods carry to meet the "restricted" standard,
and how a pod refused at creation (by Pod Security, a quota or a webhook) is told.

graceproof's load pods (Locust in the cluster) always run restricted: non-root, no
privilege escalation, every capability dropped, seccomp RuntimeDefault, a read-only
root filesystem. The sample app does too, unless its preStop hook writes a file on
the root filesystem (the exec hook's /stop.log), which needs the image's root user.
A namespace can then enforce it (`enforce_restricted`): a team's shared cluster often
does, and a workload that needs more is refused with the API server's reason.
"""

from __future__ import annotations

from typing import Any

from graceproof.kube import REQUEST_TIMEOUT

# The user and group of `nobody` in Debian images: no files of its own, none to write.
NOBODY = 65534

RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": NOBODY,
    "runAsGroup": NOBODY,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

# Refusals a retry does not cure (the FailedCreate messages of the API server).
PERMANENT_REFUSALS = ("violates PodSecurity", "exceeded quota")


def enforce_restricted(kube: Any, namespace: str) -> None:
    """Make `namespace` enforce the "restricted" Pod Security standard (the built-in
    PodSecurity admission of Kubernetes 1.25 and later)."""
    kube.core.patch_namespace(
        namespace,
        {"metadata": {"labels": {ENFORCE_LABEL: "restricted"}}},
        _request_timeout=REQUEST_TIMEOUT,
    )


def creation_refusal(kube: Any, namespace: str) -> str | None:
    """The newest reason a controller in `namespace` could not create a pod (its
    FailedCreate event: Pod Security, a ResourceQuota, an admission webhook), or None."""
    events = kube.core.list_namespaced_event(
        namespace, field_selector="reason=FailedCreate", _request_timeout=REQUEST_TIMEOUT
    ).items
    if not events:
        return None
    newest = max(
        events, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp
    )
    obj = newest.involved_object
    return f"{obj.kind.lower()}/{obj.name}: {(newest.message or '').strip()}"


def refusal_fix(reason: str) -> str:
    """What to do about a refusal, by what refused it."""
    if "violates PodSecurity" in reason:
        return (
            "the namespace enforces a Pod Security standard the pod spec does not meet: "
            "set what the message names in the pod's securityContext (runAsNonRoot, "
            "allowPrivilegeEscalation: false, capabilities.drop [ALL], seccompProfile "
            "RuntimeDefault), or prove it where the standard allows it"
        )
    if "exceeded quota" in reason:
        return "a ResourceQuota of the namespace is used up: raise it, or lower the requests"
    return "an admission check refused the pod: see the message"


def _when(event: Any) -> Any:
    # Core events set lastTimestamp; events written through events.k8s.io, eventTime.
    return event.last_timestamp or event.event_time or event.metadata.creation_timestamp
