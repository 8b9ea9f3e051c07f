"""The workload controllers graceproof terminates pods of: one class per kind.

A kind sets its facts and its few API calls; what is the same for every kind (the
rollout wait, the HPA wait, the names in messages) is written once on the base, as
kr8s does (`kr8s/_objects.py`). A controller is named by a Target's kind and name:

    controller_of(kube.apps, namespace, target).patch(body)
    Deployment(apps, namespace, "web").rolled_out().wait(180)

A new kind is one subclass; defining it registers it in `KINDS` (graceproof.registry).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from graceproof.kube import REQUEST_TIMEOUT
from graceproof.registry import Registry
from graceproof.wait_loop import Condition, Seen, conditions_text

__all__ = ["KINDS", "Controller", "Deployment", "StatefulSet", "controller_of"]


@dataclass(frozen=True)
class Controller(ABC):
    """One controller of its kind, by name in a namespace, through the apps/v1 API."""

    apps: Any  # kubernetes.client.AppsV1Api, or a stand-in
    namespace: str
    name: str

    kind: ClassVar[str]
    """The API kind: "Deployment"."""
    done: ClassVar[str]
    """What a finished rollout is called in messages: "available"."""
    hint: ClassVar[str | None] = None
    """Where to look when its rollout does not finish."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        KINDS.register_class(cls, "kind")

    @property
    def ref(self) -> str:
        """`deployment/web`, as kubectl names it."""
        return f"{self.kind.lower()}/{self.name}"

    @property
    def where(self) -> str:
        """`deployment ns/web`, as messages name it."""
        return f"{self.kind.lower()} {self.namespace}/{self.name}"

    @abstractmethod
    def read(self) -> Any:
        """The object (ApiException 404 when it does not exist)."""

    @abstractmethod
    def patch(self, body: dict[str, Any]) -> Any:
        """Patch the object (a strategic merge patch)."""

    @abstractmethod
    def scale(self, replicas: int) -> Any:
        """Ask for `replicas` replicas through the scale subresource."""

    @abstractmethod
    def is_rolled_out(self, obj: Any, want: int) -> bool:
        """Whether `obj`'s rollout is complete with `want` replicas."""

    @abstractmethod
    def describe_status(self, obj: Any) -> str:
        """Its replica counts in one line, for a wait's last state."""

    def rolled_out(self) -> Condition[Any]:
        """Its rollout is complete (what `kubectl rollout status` waits for). Yields the
        object."""
        seen = Seen()

        def probe() -> Any:
            obj = seen.read(self.read)
            if obj is None:
                return None
            want = obj.spec.replicas if obj.spec.replicas is not None else 1
            return obj if self.is_rolled_out(obj, want) else None

        def describe() -> str:
            if seen.obj is None:
                return f"{self.where} {seen.note}"
            return f"{self.where}: {self.describe_status(seen.obj)}"

        return Condition(f"{self.where} to be {self.done}", probe, describe, self.hint)

    def scaled_to(self, replicas: int) -> Condition[Any]:
        """It asks for `replicas` at least (e.g. once its HPA raised it to minReplicas).
        Yields the object."""
        seen = Seen()

        def probe() -> Any:
            obj = seen.read(self.read)
            if obj is None:
                return None
            # The HPA's bounds (`replicas` is the manifests' count brought into them):
            # reached once the controller asks for at least that many.
            return obj if (obj.spec.replicas or 0) >= replicas else None

        def describe() -> str:
            obj = seen.obj
            if obj is None:
                return f"{self.ref} {seen.note}"
            return f"{self.ref} asks for {obj.spec.replicas} replicas"

        return Condition(
            f"{self.ref} scaled by its HPA to {replicas} replicas at least",
            probe,
            describe,
            "is the HPA controller running (kube-controller-manager), and does the HPA's "
            "scaleTargetRef name this workload?",
        )


# Every controller kind by its API kind, filled as they are defined.
KINDS: Registry[type[Controller]] = Registry("workload kind", Controller)


class Deployment(Controller):
    kind: ClassVar[str] = "Deployment"
    done: ClassVar[str] = "available"
    hint: ClassVar[str | None] = (
        "check the pods' events and logs (image pull, readiness probe, crash loop)"
    )

    def read(self) -> Any:
        return self.apps.read_namespaced_deployment(
            self.name, self.namespace, _request_timeout=REQUEST_TIMEOUT
        )

    def patch(self, body: dict[str, Any]) -> Any:
        return self.apps.patch_namespaced_deployment(self.name, self.namespace, body)

    def scale(self, replicas: int) -> Any:
        return self.apps.patch_namespaced_deployment_scale(
            self.name, self.namespace, {"spec": {"replicas": replicas}}
        )

    def is_rolled_out(self, obj: Any, want: int) -> bool:
        # Every desired replica updated and available, no old replica left.
        st = obj.status
        return (
            (st.observed_generation or 0) >= (obj.metadata.generation or 0)
            and (st.updated_replicas or 0) == want
            and (st.replicas or 0) == want
            and (st.available_replicas or 0) == want
        )

    def describe_status(self, obj: Any) -> str:
        st = obj.status
        return (
            f"desired {obj.spec.replicas}, replicas {st.replicas or 0}, updated "
            f"{st.updated_replicas or 0}, ready {st.ready_replicas or 0}, available "
            f"{st.available_replicas or 0}; generation {obj.metadata.generation} observed "
            f"{st.observed_generation}; {conditions_text(obj)}"
        )


class StatefulSet(Controller):
    kind: ClassVar[str] = "StatefulSet"
    done: ClassVar[str] = "ready"

    def read(self) -> Any:
        return self.apps.read_namespaced_stateful_set(
            self.name, self.namespace, _request_timeout=REQUEST_TIMEOUT
        )

    def patch(self, body: dict[str, Any]) -> Any:
        return self.apps.patch_namespaced_stateful_set(self.name, self.namespace, body)

    def scale(self, replicas: int) -> Any:
        return self.apps.patch_namespaced_stateful_set_scale(
            self.name, self.namespace, {"spec": {"replicas": replicas}}
        )

    def is_rolled_out(self, obj: Any, want: int) -> bool:
        # Every replica ready on the update revision.
        st = obj.status
        return (
            (st.observed_generation or 0) >= (obj.metadata.generation or 0)
            and (st.ready_replicas or 0) == want
            and (st.updated_replicas or 0) == want
            and st.current_revision == st.update_revision
        )

    def describe_status(self, obj: Any) -> str:
        st = obj.status
        return (
            f"desired {obj.spec.replicas}, ready {st.ready_replicas or 0}, updated "
            f"{st.updated_replicas or 0}, revision {st.current_revision} -> {st.update_revision}"
        )


def controller_of(apps: Any, namespace: str, target: Any) -> Controller:
    """The controller a Target names (its `kind` and `name`)."""
    return KINDS.lookup(target.kind)(apps, namespace, target.name)
