"""The protections of `graceproof explain`: which a workload has, which disruption
exercises each, and the derivation of each variant from the rendered manifests, which
must change exactly the one protection it removes and nothing else."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.disruptions import DeleteOneByOne, DrainNode, RollingUpdate, RolloutRestart
from graceproof.errors import OptionError
from graceproof.explain.protections import (
    PROTECTIONS,
    DisruptionBudget,
    GracePeriod,
    PreStopHook,
    ReadinessProbe,
    RollingStrategy,
    protections_named,
)
from graceproof.explain.protections.rolling import max_unavailable
from graceproof.explain.variant import Ablated, ablated, without
from graceproof.sources import ManifestFiles
from graceproof.workloads.manifests import ManifestWorkload

NGINX = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "manifests"


def nginx() -> ManifestWorkload:
    return ManifestWorkload.load(ManifestFiles((NGINX,)))


def written(tmp_path: Path, change: Any = None) -> ManifestWorkload:
    """The nginx example's manifests, `change(docs)` applied, loaded from tmp_path."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted(NGINX.glob("*.yaml"))]
    if change is not None:
        change(docs)
    for i, d in enumerate(docs):
        (tmp_path / f"{i}.yaml").write_text(yaml.safe_dump(d))
    return ManifestWorkload.load(ManifestFiles((tmp_path,)))


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths at which two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}.{k}")
            else:
                out += differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [path]


def changed_paths(before: ManifestWorkload, after: ManifestWorkload) -> dict[str, list[str]]:
    """Per object (kind/name), the paths its applied body changed at; objects removed
    map to ["(removed)"]."""

    def by_ref(w: ManifestWorkload) -> dict[str, dict[str, Any]]:
        return {f"{b['kind'].lower()}/{b['metadata']['name']}": b for b in w.manifests()}

    old, new = by_ref(before), by_ref(after)
    out: dict[str, list[str]] = {}
    for ref, body in old.items():
        if ref not in new:
            out[ref] = ["(removed)"]
        elif diff := differences(body, new[ref]):
            out[ref] = diff
    assert set(new) <= set(old), "a derivation adds no object"
    return out


POD = ".spec.template.spec"


@pytest.mark.parametrize(
    ("protection", "expected"),
    [
        (PreStopHook(), {"deployment/web": [f"{POD}.containers[0].lifecycle"]}),
        (ReadinessProbe(), {"deployment/web": [f"{POD}.containers[0].readinessProbe"]}),
        (DisruptionBudget(), {"poddisruptionbudget/web": ["(removed)"]}),
        (
            RollingStrategy(),
            {"deployment/web": [".spec.strategy.rollingUpdate.maxUnavailable"]},
        ),
        (GracePeriod(), {"deployment/web": [f"{POD}.terminationGracePeriodSeconds"]}),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_each_derivation_removes_exactly_its_protection(
    protection: Any, expected: dict[str, list[str]]
) -> None:
    original = nginx()
    assert protection.present(original.resolved)
    variant = without(original, protection)
    assert changed_paths(original, variant) == expected
    assert not protection.present(variant.resolved), "removed, it is no longer there"
    # Every other protection the example has is still there.
    for other in PROTECTIONS:
        if other.name != protection.name and other.present(original.resolved):
            assert other.present(variant.resolved), other.name


def test_the_values_each_derivation_sets() -> None:
    w = nginx()
    body = next(b for b in without(w, GracePeriod()).manifests() if b["kind"] == "Deployment")
    assert body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 5  # the hook
    body = next(b for b in without(w, RollingStrategy()).manifests() if b["kind"] == "Deployment")
    # 25 % of 3 replicas rounds down to 0: the weakened strategy takes one pod away first,
    # and keeps the example's own maxSurge (one thing changed).
    assert body["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1},
    }
    assert without(w, PreStopHook()).resolved.hooks == 0
    assert without(w, PreStopHook()).changes == ("nginx: sleep 5 s",)


def test_the_original_is_untouched_by_a_derivation() -> None:
    w = nginx()
    before = copy.deepcopy(w.manifests())
    for p in PROTECTIONS:
        without(w, p)
    assert w.manifests() == before


def test_variants_are_named_by_what_they_remove_and_are_informative() -> None:
    w = nginx()
    original = ablated(w)
    assert original.label == w.label and original.removed == ()
    hook = without(w, PreStopHook())
    both = without(hook, ReadinessProbe())
    assert isinstance(both, Ablated)
    assert both.removed == ("prestop-hook", "readiness-probe")
    assert both.label == "files-deployment-web-without-prestop-hook-and-readiness-probe"
    assert {original.expected, hook.expected, both.expected} == {"informative"}
    assert both.parameters()["removed"] == ["prestop-hook", "readiness-probe"]
    # Each variant is a scenario of its own: its id differs.
    assert len({original.label, hook.label, both.label}) == 3
    assert hook.changed() != original.changed()


def test_a_workload_without_protections_has_none_present(tmp_path: Path) -> None:
    def bare(docs: list[dict[str, Any]]) -> None:
        docs[:] = [d for d in docs if d["kind"] != "PodDisruptionBudget"]
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        deployment["spec"]["strategy"] = {"type": "Recreate"}
        pod = deployment["spec"]["template"]["spec"]
        pod["terminationGracePeriodSeconds"] = 1
        for c in pod["containers"]:
            c.pop("readinessProbe")
            c.pop("lifecycle")

    w = written(tmp_path, bare)
    assert [p.name for p in PROTECTIONS if p.present(w.resolved)] == []
    assert PreStopHook().absent(w.resolved).startswith("missing: no preStop hook")


def test_the_grace_period_cannot_be_cut_to_a_hook_of_unknown_length(tmp_path: Path) -> None:
    def http_hook(docs: list[dict[str, Any]]) -> None:
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        hook = {"httpGet": {"path": "/drain", "port": "http"}}
        deployment["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"] = hook

    w = written(tmp_path, http_hook)
    assert not GracePeriod().present(w.resolved)
    assert "does not say how long it holds" in GracePeriod().absent(w.resolved)


@pytest.mark.parametrize(
    ("value", "replicas", "expected"),
    [(0, 3, 0), ("25%", 3, 0), ("25%", 4, 1), ("50%", 3, 1), (2, 3, 2)],
)
def test_max_unavailable_rounds_a_percentage_down(
    value: int | str, replicas: int, expected: int
) -> None:
    assert max_unavailable(value, replicas) == expected


def test_a_rollout_with_room_to_take_pods_first_has_no_rolling_protection(tmp_path: Path) -> None:
    def loose(docs: list[dict[str, Any]]) -> None:
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1

    assert not RollingStrategy().present(written(tmp_path, loose).resolved)


def test_which_disruption_exercises_each_protection() -> None:
    exercised = {
        d.kind: sorted(p.name for p in PROTECTIONS if p.applies(d))
        for d in (DeleteOneByOne(), DrainNode(), RolloutRestart(), RollingUpdate())
    }
    assert exercised == {
        "delete-one-by-one": ["grace-period", "prestop-hook", "readiness-probe"],
        "drain-node": ["grace-period", "pdb", "prestop-hook", "readiness-probe"],
        "rollout-restart": ["grace-period", "prestop-hook", "readiness-probe", "rolling-strategy"],
        # graceproof's rolling update sets maxSurge/maxUnavailable itself.
        "rolling-update": ["grace-period", "prestop-hook", "readiness-probe"],
    }
    assert DisruptionBudget().exercised() == "drain-node or evict"


def test_protections_are_chosen_by_name() -> None:
    assert protections_named([]) == PROTECTIONS
    assert [p.name for p in protections_named(["pdb", "prestop-hook"])] == ["prestop-hook", "pdb"]
    with pytest.raises(OptionError, match="--protection sleep: no such protection"):
        protections_named(["sleep"])
