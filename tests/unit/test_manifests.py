"""A team's manifests: parsing with file and line, the checks before anything is
deployed, target and Service detection, the derived control, and `graceproof prove`'s
exit code 2 for bad input (no cluster is reached: the checks come first)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from graceproof.cli import main
from graceproof.errors import ManifestRejectedError, WorkloadSpecError
from graceproof.sources import HelmChart, Kustomization, ManifestFiles, parse_yaml
from graceproof.workloads.base import DeployContext
from graceproof.workloads.manifests import ManifestWorkload, resolve


def deployment(name: str = "web", labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 20,
                    "containers": [
                        {
                            "name": "server",
                            "image": "nginx:1",
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                        }
                    ],
                },
            },
        },
    }


def service(
    name: str = "web", selector: dict[str, str] | None = None, **port: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": selector or {"app": "web"},
            "ports": [port or {"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def _with_expressions(d: dict[str, Any]) -> dict[str, Any]:
    d["spec"]["selector"]["matchExpressions"] = [
        {"key": "tier", "operator": "In", "values": ["web"]}
    ]
    return d


def write(tmp_path: Path, *docs: dict[str, Any], name: str = "app.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def load(tmp_path: Path, *docs: dict[str, Any], **kw: Any) -> ManifestWorkload:
    return ManifestWorkload.load(ManifestFiles((write(tmp_path, *docs),)), **kw)


def test_one_deployment_and_its_service_are_found(tmp_path: Path) -> None:
    w = load(tmp_path, deployment(), service())
    assert w.resolved.workload.ref == "deployment/web"
    assert w.resolved.service.ref == "service/web"
    assert w.resolved.target_port == "http"
    assert w.pod_port() == 8080
    assert w.resolved.hooks == 1
    assert w.label == "files-deployment-web"
    assert w.expected == "no-errors"


def test_the_load_service_is_graceproofs_own_and_the_teams_stays_unchanged(
    tmp_path: Path,
) -> None:
    w = load(tmp_path, deployment(), service(), node_port=30084)
    *team, load_service = w.manifests()
    assert team[1] == service()  # the team's Service, as written
    assert "namespace" not in team[0]["metadata"]  # applied into the test's namespace
    assert load_service["metadata"]["name"] == "graceproof-load-web"
    assert load_service["spec"]["type"] == "NodePort"
    assert load_service["spec"]["selector"] == {"app": "web"}
    assert load_service["spec"]["ports"][0]["targetPort"] == "http"
    assert load_service["spec"]["ports"][0]["nodePort"] == 30084


def test_the_control_removes_every_prestop_hook_and_keeps_the_rest(tmp_path: Path) -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["postStart"] = {
        "exec": {"command": ["true"]}
    }
    w = load(tmp_path, d, service())
    control = w.without_hooks()
    container = control.manifests()[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["lifecycle"] == {"postStart": {"exec": {"command": ["true"]}}}
    assert control.label == "files-deployment-web-no-hook"
    assert control.expected == "errors"
    # The hooked workload itself is untouched.
    hooked = w.manifests()[0]["spec"]["template"]["spec"]["containers"][0]
    assert "preStop" in hooked["lifecycle"]


def test_an_empty_lifecycle_goes_with_its_only_hook(tmp_path: Path) -> None:
    control = load(tmp_path, deployment(), service()).without_hooks()
    container = control.manifests()[0]["spec"]["template"]["spec"]["containers"][0]
    assert "lifecycle" not in container


def test_a_statefulset_is_a_target_too(tmp_path: Path) -> None:
    s = deployment("db")
    s["kind"] = "StatefulSet"
    w = load(tmp_path, s, service("db", {"app": "db"}))
    assert w.resolved.workload.ref == "statefulset/db"


@pytest.mark.parametrize(
    ("docs", "kw", "message"),
    [
        ([service()], {}, "no Deployment or StatefulSet in the input \\(found Service\\)"),
        (
            [deployment("a"), deployment("b"), service(selector={"app": "a"})],
            {},
            "several workloads in the input \\(deployment/a, deployment/b\\): name the one",
        ),
        ([deployment(), service()], {"target": "deployment/api"}, "--target deployment/api"),
        (
            [deployment(), service(selector={"app": "other"})],
            {},
            "no Service in the input selects the pods of deployment/web",
        ),
        (
            [deployment(), service(selector={"app": "other"})],
            {"service": "web"},
            "service/web .*: its selector \\{'app': 'other'\\} matches no pod of deployment/web",
        ),
        (
            [deployment(), service("a"), service("b")],
            {},
            "several Services select the pods of deployment/web \\(service/a, service/b\\)",
        ),
        (
            [deployment(), service(name="http", port=80, targetPort="metrics")],
            {},
            "targetPort 'metrics' is not a named port of any container of deployment/web "
            "\\(container ports: server: http 8080\\)",
        ),
        (
            [deployment(), service(name="http", port=80, targetPort=9090)],
            {},
            "targetPort 9090 is not exposed by any container of deployment/web",
        ),
        (
            [
                deployment(),
                service(),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}},
            ],
            {},
            "cluster-scoped objects .* are refused .*: namespace/prod \\(.*app.yaml:\\d+\\)",
        ),
        ([deployment(), service()], {"service": "web:grpc"}, "service/web has no port 'grpc'"),
        (
            [
                deployment(),
                service(),
                {
                    "apiVersion": "monitoring.coreos.com/v1",
                    "kind": "ServiceMonitor",
                    "metadata": {"name": "web"},
                },
            ],
            {},
            "custom resources\\) are refused .*servicemonitor/web",
        ),
        (
            [_with_expressions(deployment()), service()],
            {},
            "spec.selector must be matchLabels only",
        ),
    ],
    ids=[
        "no-workload",
        "several-workloads",
        "unknown-target",
        "no-service",
        "selector-matches-no-pod",
        "several-services",
        "named-target-port-missing",
        "numeric-target-port-missing",
        "cluster-scoped",
        "unknown-service-port",
        "custom-resource",
        "selector-expressions",
    ],
)
def test_bad_input_names_the_object_the_field_and_the_fix(
    tmp_path: Path, docs: list[dict[str, Any]], kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkloadSpecError, match=message):
        load(tmp_path, *copy.deepcopy(docs), **kw)


def test_a_yaml_syntax_error_gives_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n", encoding="utf-8")
    with pytest.raises(WorkloadSpecError, match=r"broken\.yaml:5:1: YAML error"):
        ManifestFiles((path,)).render()


def test_each_document_knows_its_file_and_line(tmp_path: Path) -> None:
    text = "---\n# a comment\n" + yaml.safe_dump(deployment()) + "---\n" + yaml.safe_dump(service())
    docs = parse_yaml(text, "deploy.yaml")
    assert [d.ref for d in docs] == ["deployment/web", "service/web"]
    assert docs[0].origin == "deploy.yaml:3"
    assert docs[1].origin.startswith("deploy.yaml:")


def test_a_document_that_is_no_object_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorkloadSpecError, match=re.escape("x.yaml:1: not a Kubernetes object")):
        parse_yaml("- just\n- a list\n", "x.yaml")
    with pytest.raises(
        WorkloadSpecError, match=re.escape("x.yaml:1: Service has no metadata.name")
    ):
        parse_yaml("apiVersion: v1\nkind: Service\nmetadata: {}\n", "x.yaml")


def test_a_folder_gives_its_yaml_files_in_order(tmp_path: Path) -> None:
    write(tmp_path, service(), name="b-service.yaml")
    write(tmp_path, deployment(), name="a-deployment.yml")
    (tmp_path / "README.md").write_text("not yaml")
    assert [d.ref for d in ManifestFiles((tmp_path,)).render()] == [
        "deployment/web",
        "service/web",
    ]
    with pytest.raises(WorkloadSpecError, match="no such file or folder"):
        ManifestFiles((tmp_path / "missing",)).render()


def test_helm_template_gets_values_and_set_pairs_in_order(tmp_path: Path) -> None:
    chart = HelmChart(tmp_path, values=(Path("a.yaml"), Path("b.yaml")), set=("x=1", "y=two"))
    assert chart.argv("helm") == [
        "helm", "template", "graceproof", str(tmp_path), "--skip-tests",
        "--values", "a.yaml", "--values", "b.yaml", "--set", "x=1", "--set", "y=two",
    ]  # fmt: skip
    with pytest.raises(WorkloadSpecError, match="expected KEY=VALUE"):
        HelmChart(tmp_path, set=("novalue",)).argv("helm")


def test_a_folder_without_chart_or_kustomization_is_refused_before_any_tool(
    tmp_path: Path,
) -> None:
    with pytest.raises(WorkloadSpecError, match=re.escape("no Chart.yaml")):
        HelmChart(tmp_path).render()
    with pytest.raises(WorkloadSpecError, match=re.escape("no kustomization.yaml")):
        Kustomization(tmp_path).render()


def test_helm_test_hooks_are_left_out_even_with_the_workloads_labels(tmp_path: Path) -> None:
    d = deployment()
    labels = d["spec"]["selector"]["matchLabels"]
    test_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-grpc-test",
            "labels": dict(labels),
            "annotations": {"helm.sh/hook": "test-success, test"},
        },
        "spec": {"containers": [{"name": "probe", "image": "probe:latest"}]},
    }
    docs = ManifestFiles((write(tmp_path, d, service(), test_pod),)).render()
    resolved = resolve(docs)
    assert [doc.ref for doc in resolved.docs] == ["deployment/web", "service/web"]
    assert len(resolved.left_out) == 1
    assert resolved.left_out[0].startswith("pod/web-grpc-test (")
    assert "helm.sh/hook: test, which `helm install` does not create" in resolved.left_out[0]


def test_helm_hooks_that_an_install_does_not_run_are_left_out_and_install_hooks_kept(
    tmp_path: Path,
) -> None:
    def job(name: str, hooks: str) -> dict[str, Any]:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": {"helm.sh/hook": hooks}},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "j", "image": "migrate:1"}]}}},
        }  # fmt: skip

    docs = ManifestFiles(
        (
            write(
                tmp_path,
                deployment(),
                service(),
                job("migrate", "pre-install,pre-upgrade"),
                job("notify", "post-install"),
                job("cleanup", "pre-delete"),
                job("backup", "pre-upgrade, pre-rollback"),
            ),
        )
    ).render()
    resolved = resolve(docs)
    assert [d.ref for d in resolved.docs] == [
        "deployment/web",
        "service/web",
        "job/migrate",
        "job/notify",
    ]
    assert [line.split(" (")[0] for line in resolved.left_out] == ["job/cleanup", "job/backup"]
    assert resolved.left_out[1].endswith(
        "helm.sh/hook: pre-rollback, pre-upgrade, which `helm install` does not run "
        "(delete, upgrade or rollback do)"
    )


def test_resolve_counts_no_hooks_when_there_are_none(tmp_path: Path) -> None:
    d = deployment()
    del d["spec"]["template"]["spec"]["containers"][0]["lifecycle"]
    docs = ManifestFiles((write(tmp_path, d, service()),)).render()
    assert resolve(docs).hooks == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no Deployment or StatefulSet"),
        (["--set", "a=b"], "--values and --set go with --chart"),
    ],
)
def test_prove_exits_2_on_bad_input_before_touching_a_cluster(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    path = write(tmp_path, service())
    # The kubeconfig does not even exist: bad input is found before it is read.
    code = main(["prove", "-f", str(path), "--kubeconfig", str(tmp_path / "nope"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_prove_refuses_a_budget_out_of_range_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, deployment(), service())
    argv = ["prove", "-f", str(path), "--kubeconfig", str(tmp_path / "nope")]
    # argparse refuses it, naming the flag (exit 2, as for every usage error).
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--max-error-rate", "5"])
    assert exited.value.code == 2
    assert "argument --max-error-rate: a fraction (0.001 = 0.1 %), not 5" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "must be more than 0 seconds, not 0"), ("soon", "a number, not 'soon'")],
)
def test_prove_refuses_a_timeout_that_is_not_a_positive_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    path = write(tmp_path, deployment(), service())
    with pytest.raises(SystemExit) as exited:
        main(["prove", "-f", str(path), "--dry-run", "--timeout", value])
    assert exited.value.code == 2
    assert f"argument --timeout: {message}" in capsys.readouterr().err


def test_the_source_names_the_scenario(tmp_path: Path) -> None:
    from graceproof.scenario import Scenario

    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    one = ManifestWorkload.load(ManifestFiles((write(a, deployment(), service()),)))
    two = ManifestWorkload.load(ManifestFiles((write(b, deployment(), service()),)))
    assert Scenario(one).scenario_id != Scenario(two).scenario_id
    assert Scenario(one).scenario_id.startswith("files-deployment-web--delete-one-by-one--new--")


def test_prove_says_which_tool_is_missing_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    monkeypatch.delenv("GRACEPROOF_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("graceproof.sources._CACHE", tmp_path / "no-cache")
    code = main(["prove", "--chart", str(chart), "--kubeconfig", str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err
    assert "'helm' was not found on PATH" in err
    # The fix a wheel's user can follow: no hack/ script, which only a checkout has.
    assert "install helm (https://helm.sh/docs/intro/install/)" in err and "hack/" not in err
    # A GRACEPROOF_HELM that points nowhere is named as such, not as a tool to install.
    monkeypatch.setenv("GRACEPROOF_HELM", "/nonexistent/helm")
    code = main(["prove", "--chart", str(chart), "--kubeconfig", str(tmp_path / "nope")])
    assert code == 2
    assert "GRACEPROOF_HELM=/nonexistent/helm is not an executable file" in capsys.readouterr().err


def _ingress_args(tmp_path: Path, *extra: str) -> Any:
    import argparse

    from graceproof.cli_prove import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["prove", "-f", "x", "--kubeconfig", "k", *extra])


def _kind_args(*extra: str) -> Any:
    import argparse

    from graceproof.cli_prove import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["prove", "-f", "x", "--kind", *extra])


def test_prove_on_kind_takes_a_node_image_from_the_flag_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graceproof.cli_prove_inputs import provider_of
    from graceproof.providers import KindProvider
    from graceproof.providers.kind_release import KIND_NODE_IMAGES

    monkeypatch.delenv("GRACEPROOF_NODE_IMAGE", raising=False)
    pinned = provider_of(_kind_args(), tmp_path)
    assert isinstance(pinned, KindProvider)
    assert (pinned.node_image, pinned.node_image_given) == (KIND_NODE_IMAGES["1.34"], False)
    given = provider_of(_kind_args("--node-image", "me/node:v1.34.4-x"), tmp_path)
    assert isinstance(given, KindProvider) and given.node_image == "me/node:v1.34.4-x"
    assert given.node_image_given
    monkeypatch.setenv("GRACEPROOF_NODE_IMAGE", "env/node:v1.34.4-y")
    from_env = provider_of(_kind_args(), tmp_path)
    assert isinstance(from_env, KindProvider) and from_env.node_image == "env/node:v1.34.4-y"


def _archive(tmp_path: Path, tag: str) -> Path:
    import io
    import json
    import tarfile

    path = tmp_path / "img.tar"
    data = json.dumps([{"RepoTags": [tag]}]).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_the_ingress_image_is_the_imported_one_else_the_pinned_release(tmp_path: Path) -> None:
    from graceproof.cli_prove_inputs import ingress_of
    from graceproof.ingress import TRAEFIK_IMAGE, Traefik

    assert ingress_of(_ingress_args(tmp_path)) is None
    pinned = ingress_of(_ingress_args(tmp_path, "--ingress", "traefik"))
    assert isinstance(pinned, Traefik) and pinned.image == Traefik.release_image
    assert "@sha256:" in pinned.image and pinned.node_port == 30089
    archive = _archive(tmp_path, TRAEFIK_IMAGE)
    imported = ingress_of(
        _ingress_args(tmp_path, "--ingress", "traefik", "--image-archive", str(archive))
    )
    assert imported is not None and imported.parameters()["image"] == TRAEFIK_IMAGE
    named = ingress_of(
        _ingress_args(tmp_path, "--ingress", "traefik", "--ingress-image", "my/traefik:1")
    )
    assert named is not None and named.parameters()["image"] == "my/traefik:1"


def test_an_ingress_image_without_an_ingress_exits_2_before_any_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, deployment(), service())
    argv = ["prove", "-f", str(path), "--kubeconfig", str(tmp_path / "nope")]
    assert main([*argv, "--ingress-image", "traefik:v3"]) == 2
    assert "--ingress-image goes with --ingress" in capsys.readouterr().err


class _PortsTaken:
    """A Kube whose API server holds some node ports (another proof's Services)."""

    def __init__(self, *taken: int) -> None:
        self.taken = set(taken)
        self.applied: list[int] = []

    def apply(self, docs: list[dict[str, Any]], namespace: str) -> list[Any]:
        (doc,) = docs
        port = doc["spec"]["ports"][0]["nodePort"]
        if port in self.taken:
            raise ManifestRejectedError(
                "Service",
                doc["metadata"]["name"],
                422,
                f"spec.ports[0].nodePort: Invalid value: {port}: provided port is already "
                "allocated",
            )
        self.applied.append(port)
        return [doc]


def test_without_a_node_port_given_the_load_takes_the_next_free_one(tmp_path: Path) -> None:
    w = load(tmp_path, deployment(), service(), node_port=None)
    kube = _PortsTaken(30080, 30081)
    ctx = DeployContext(kube, "ns", "")  # type: ignore[arg-type]
    assert w._apply_load_service(ctx) == 30082
    assert kube.applied == [30082]


def test_a_node_port_given_is_that_one_or_the_api_servers_refusal(tmp_path: Path) -> None:
    w = load(tmp_path, deployment(), service(), node_port=30080)
    ctx = DeployContext(_PortsTaken(30080), "ns", "")  # type: ignore[arg-type]
    with pytest.raises(ManifestRejectedError, match="provided port is already allocated"):
        w._apply_load_service(ctx)


def test_node_ports_outside_the_range_are_refused_before_any_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write(tmp_path, deployment(), service())
    with pytest.raises(SystemExit) as bad:
        main(["prove", "-f", str(files), "--node-port", "99999", "--dry-run"])
    assert bad.value.code == 2
    assert "--node-port: must be a NodePort (30000-32767" in capsys.readouterr().err
    assert main(["prove", "-f", str(files), "--kind", "--node-port", "31000"]) == 2
    assert "kind maps only 30080-30089 to 127.0.0.1" in capsys.readouterr().err


def test_a_teams_fixed_node_port_is_left_to_the_api_server(tmp_path: Path) -> None:
    # Two proofs of the same manifests on one cluster would refuse each other's Service.
    svc = service()
    svc["spec"]["type"] = "NodePort"
    svc["spec"]["ports"][0]["nodePort"] = 30083
    w = load(tmp_path, deployment(), svc)
    applied = next(d for d in w.manifests() if d["kind"] == "Service")
    assert applied["spec"]["type"] == "NodePort"
    assert "nodePort" not in applied["spec"]["ports"][0]
    assert w.resolved.service.body["spec"]["ports"][0]["nodePort"] == 30083  # as written
