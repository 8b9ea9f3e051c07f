"""The nginx example in its three forms renders the same workload with the real tools
(kubectl kustomize, helm template, both built by hack/), and passes graceproof's
checks. A cluster test because the tools are built with the local cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graceproof.config import read_env_file
from graceproof.sources import HelmChart, Kustomization, ManifestFiles, ManifestSource
from graceproof.workloads.manifests import resolve

ROOT = Path(__file__).resolve().parents[2]
NGINX = ROOT / "examples" / "nginx"
# helm is built (hack/tools.sh) when the first of these tests comes.
pytestmark = pytest.mark.usefixtures("helm")

IMAGE = read_env_file(ROOT / "hack" / "versions.env")["EXAMPLE_NGINX_IMAGE"]

FORMS: dict[str, ManifestSource] = {
    "manifests": ManifestFiles((NGINX / "manifests",)),
    "kustomize": Kustomization(NGINX / "kustomize" / "overlays" / "prod"),
    "helm": HelmChart(NGINX / "chart"),
}


def _without_labels(body: dict[str, Any]) -> dict[str, Any]:
    """The object with labels and annotations dropped everywhere (forms may add theirs)."""
    if isinstance(body, dict):
        return {
            k: _without_labels(v) for k, v in body.items() if k not in ("labels", "annotations")
        }
    if isinstance(body, list):
        return [_without_labels(v) for v in body]  # type: ignore[return-value]
    return body


def _rendered(source: ManifestSource) -> dict[str, dict[str, Any]]:
    return {d.ref: _without_labels(d.body) for d in source.render()}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_passes_the_checks_with_one_hook_and_the_pinned_image(form: str) -> None:
    resolved = resolve(FORMS[form].render())
    assert resolved.workload.ref == "deployment/web"
    assert resolved.service.ref == "service/web"
    assert resolved.hooks == 1
    containers = resolved.workload.body["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [IMAGE]


def test_the_three_forms_render_the_same_objects() -> None:
    plain = _rendered(FORMS["manifests"])
    assert set(plain) == {"deployment/web", "service/web", "poddisruptionbudget/web"}
    assert _rendered(FORMS["kustomize"]) == plain
    assert _rendered(FORMS["helm"]) == plain


def test_the_chart_without_a_hook_has_no_lifecycle() -> None:
    chart = HelmChart(NGINX / "chart", set=("preStopSleepSeconds=0",))
    resolved = resolve(chart.render())
    assert resolved.hooks == 0
    container = resolved.workload.body["spec"]["template"]["spec"]["containers"][0]
    assert "lifecycle" not in container


def test_a_chart_that_fails_to_render_shows_helms_own_message(tmp_path: Path) -> None:
    chart = tmp_path / "broken"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (chart / "templates" / "x.yaml").write_text("kind: {{ .Values.missing.field }}\n")
    from graceproof.errors import WorkloadSpecError

    with pytest.raises(WorkloadSpecError, match=r"helm template .* failed:\n.*nil pointer"):
        HelmChart(chart).render()
