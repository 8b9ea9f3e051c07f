"""Where the sample app's pods run and how many may go at once: one replica per node
(`spread`), only on labelled nodes (`node_selector`), a PodDisruptionBudget (`Pdb`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graceproof.amounts import check_int_or_percent
from graceproof.errors import WorkloadSpecError

__all__ = ["SPREAD_TOPOLOGY_KEY", "Pdb", "check_node_selector", "place"]

# One replica per node: the nodes' hostname label is the topology domain.
SPREAD_TOPOLOGY_KEY = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Pdb:
    """A PodDisruptionBudget (policy/v1) over the app's pods: exactly one of
    `min_available` and `max_unavailable`, each an int or "N%".

    Pdb(min_available=2)        # evictions wait while fewer than 2 other pods are healthy
    Pdb(max_unavailable=1)      # one pod at a time
    """

    min_available: int | str | None = None
    max_unavailable: int | str | None = None

    def __post_init__(self) -> None:
        if (self.min_available is None) == (self.max_unavailable is None):
            raise WorkloadSpecError(
                "Pdb: set exactly one of min_available and max_unavailable "
                "(PodDisruptionBudget spec.minAvailable / spec.maxUnavailable), not "
                f"min_available={self.min_available!r}, max_unavailable={self.max_unavailable!r}"
            )
        if self.min_available is not None:
            check_int_or_percent("Pdb: min_available (spec.minAvailable)", self.min_available)
        if self.max_unavailable is not None:
            check_int_or_percent("Pdb: max_unavailable (spec.maxUnavailable)", self.max_unavailable)

    def render(
        self, name: str, labels: Mapping[str, str], selector: Mapping[str, str]
    ) -> dict[str, Any]:
        """The PodDisruptionBudget named `name`, selecting the pods that `selector` does."""
        spec: dict[str, Any] = (
            {"minAvailable": self.min_available}
            if self.min_available is not None
            else {"maxUnavailable": self.max_unavailable}
        )
        spec["selector"] = {"matchLabels": dict(selector)}
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": spec,
        }


def check_node_selector(node_selector: Mapping[str, str] | None) -> None:
    """WorkloadSpecError naming the first bad entry: the API server wants a map of
    non-empty string keys to string values, and an empty map would pin nothing."""
    example = f"e.g. {{'{SPREAD_TOPOLOGY_KEY}': 'node-1'}}"
    if node_selector is None:
        return
    if not isinstance(node_selector, Mapping) or not node_selector:
        raise WorkloadSpecError(
            "SampleApp node_selector must be None or a non-empty mapping of node label "
            f"to value, {example}; not {node_selector!r}"
        )
    for key, value in node_selector.items():
        if not (isinstance(key, str) and key and isinstance(value, str)):
            raise WorkloadSpecError(
                "SampleApp node_selector must map node label names (non-empty strings) to "
                f"label values (strings), {example}; the entry {key!r}: {value!r} is not one"
            )


def place(
    pod_spec: dict[str, Any],
    selector: Mapping[str, str],
    *,
    spread: bool,
    node_selector: Mapping[str, str] | None,
) -> None:
    """Where the pods may run: one per node as far as it goes (`spread`), or only on
    the nodes with the labels of `node_selector`."""
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    if spread:
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": SPREAD_TOPOLOGY_KEY,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": dict(selector)},
                # A cordoned node carries the unschedulable taint; with the default
                # (Ignore) it would still count as a domain, and a drain's replacements
                # could never be placed without breaking the skew.
                "nodeTaintsPolicy": "Honor",
            }
        ]
