"""Gateway API in the path (Traefik's Gateway provider): its lag, and what it asks of
the hook.

The same proofs as tests/e2e/test_ingress_proofs.py, with a Gateway and an HTTPRoute
in place of the Ingress: load enters Traefik's NodePort on 127.0.0.1, Traefik routes
by the HTTPRoute to the pod IPs of the EndpointSlices it watches, and keeps choosing
a terminating pod for a while (its lag). Each test namespace gets its own
GatewayClass, deleted with it (graceproof.ingress.gateway). The session installs
Gateway API's standard CRDs when the cluster lacks them (`gateway_api_crds`,
tests/e2e/conftest.py), and leaves them.

NodePorts 30083-30087: a proof's namespaces live until its test ends, so the ports of
one test differ; no Traefik reuses another's port in this file, as Traefik binds
ports derived from it in the host's network on the local cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from graceproof.cli import main
from graceproof.hooks import SleepHook
from graceproof.ingress import ThroughIngress, TraefikGateway
from graceproof.providers import ClusterProvider
from graceproof.result import ScenarioResult
from graceproof.scenario import Scenario
from graceproof.workloads import SampleApp

Prove = Callable[[Scenario], ScenarioResult]

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("gateway_api_crds")]

NGINX = Path(__file__).resolve().parents[2] / "examples" / "nginx"


def _report(result: ScenarioResult) -> str:
    lag = result.propagation.describe() if result.propagation else "no lag measured"
    return f"{result.headline()}; {lag}"


def test_the_lag_through_the_gateway_and_the_sleep_it_calls_for(
    prove: Prove, traefik_image: str
) -> None:
    """A 10 s preStop sleep keeps each pod answering long after the Gateway path
    stopped choosing it, so the last request each pod got measures the path's lag, over
    five terminations. Then the sleep recommended from that lag keeps every request
    through the Gateway."""
    gateway = prove(
        Scenario(
            ThroughIngress(
                SampleApp(SleepHook(10), replicas=5, node_port=30083),
                TraefikGateway(node_port=30084, image=traefik_image),
            )
        )
    )
    print(_report(gateway))
    assert gateway.verdict.passed and gateway.counts.failed == 0, gateway.verdict.message
    assert gateway.propagation is not None and len(gateway.propagation.lags) == 5
    assert gateway.propagation.censored == 0  # every pod answered until the path let go
    sleep_s = gateway.propagation.recommended_sleep_s
    assert sleep_s is not None and sleep_s < 10
    recommended = prove(
        Scenario(
            ThroughIngress(
                SampleApp(SleepHook(sleep_s), replicas=2, node_port=30085),
                TraefikGateway(node_port=30086, image=traefik_image),
            )
        )
    )
    print(f"with the recommended {sleep_s} s: {_report(recommended)}")
    assert recommended.counts.failed == 0 and recommended.counts.in_windows > 0
    assert recommended.verdict.passed, recommended.verdict.message


def test_through_the_gateway_a_0s_hook_loses_requests(prove: Prove, traefik_image: str) -> None:
    """The no-hook control through the Gateway: a 0 s sleep lets the pod exit while
    Traefik still sends it new requests (its lag), which fail as 502s from Traefik."""
    result = prove(
        Scenario(
            ThroughIngress(
                SampleApp(SleepHook(0), replicas=2, node_port=30083),
                TraefikGateway(node_port=30087, image=traefik_image),
            ),
            expected="errors",
        )
    )
    print(_report(result))
    assert result.counts.failed_in_windows > 0 and result.verdict.passed, result.verdict.message


def test_the_cli_proves_a_teams_manifests_through_the_gateway(
    tmp_path: Path,
    cluster: ClusterProvider,
    nginx_image_args: list[str],
    traefik_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`graceproof prove --gateway traefik`: the nginx example and its control (no
    hook), both loaded through a Gateway: the hook holds, the control loses requests.
    With a 10 s sleep and a 5 s client timeout, as the Ingress CLI proof and for the
    same reasons (tests/e2e/test_ingress_proofs.py)."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for source in (NGINX / "manifests").glob("*.yaml"):
        text = source.read_text(encoding="utf-8")
        if source.name == "deployment.yaml":
            assert "sleep:\n                seconds: 5\n" in text, "the example's hook moved"
            text = text.replace(
                "sleep:\n                seconds: 5\n", "sleep:\n                seconds: 10\n"
            )
        (manifests / source.name).write_text(text, encoding="utf-8")
    reports = tmp_path / "reports"
    code = main(
        ["prove", "-f", str(manifests), "--kubeconfig", str(cluster.kubeconfig),
         *nginx_image_args, "--report-dir", str(reports), "--node-port", "30085",
         "--gateway", "traefik", "--gateway-image", traefik_image,
         "--gateway-node-port", "30083", "--timeout", "5"]
    )  # fmt: skip
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    results = [
        ScenarioResult.from_dict(json.loads(p.read_text()))
        for p in reports.glob("*.json")
        if json.loads(p.read_text()).get("schema") == "graceproof.result/v1"
    ]
    by_variant = {r.variant: r for r in results}
    assert set(by_variant) == {
        "files-deployment-web-via-traefik-gateway",
        "files-deployment-web-no-hook-via-traefik-gateway",
    }, set(by_variant)
    hooked = by_variant["files-deployment-web-via-traefik-gateway"]
    control = by_variant["files-deployment-web-no-hook-via-traefik-gateway"]
    for r in (hooked, control):
        print(_report(r))
    assert hooked.counts.failed == 0 and hooked.counts.in_windows > 0 and hooked.verdict.passed
    assert control.counts.failed_in_windows > 0
