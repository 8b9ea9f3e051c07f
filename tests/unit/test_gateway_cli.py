"""`graceproof prove --gateway`: the flag, its image and node port, and what it refuses
before any cluster is reached."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from graceproof.cli import main
from graceproof.cli_prove import add_parser
from graceproof.cli_prove_inputs import ingress_of, placement_of
from graceproof.errors import OptionError
from graceproof.ingress import TRAEFIK_IMAGE, TraefikGateway


def _args(*extra: str) -> Any:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["prove", "-f", "x", "--kubeconfig", "k", *extra])


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


def test_gateway_traefik_loads_through_traefiks_gateway_provider_pinned_by_digest() -> None:
    made = ingress_of(_args("--gateway", "traefik"))
    assert isinstance(made, TraefikGateway)
    assert made.image == TraefikGateway.release_image and "@sha256:" in made.image
    assert made.node_port == 30089


def test_the_gateway_image_and_node_port_are_its_own_flags(tmp_path: Path) -> None:
    named = ingress_of(
        _args(
            "--gateway",
            "traefik",
            "--gateway-image",
            "my/traefik:1",
            "--gateway-node-port",
            "30083",
        )
    )
    assert isinstance(named, TraefikGateway)
    assert (named.image, named.node_port) == ("my/traefik:1", 30083)
    archive = _archive(tmp_path, TRAEFIK_IMAGE)
    imported = ingress_of(_args("--gateway", "traefik", "--image-archive", str(archive)))
    assert isinstance(imported, TraefikGateway) and imported.image == TRAEFIK_IMAGE


def test_an_unknown_gateway_is_refused_by_the_parser_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        _args("--gateway", "nginx")
    err = capsys.readouterr().err  # the choices quoted or not, by Python's version
    assert "argument --gateway: invalid choice: 'nginx'" in err and "traefik" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--gateway", "traefik", "--ingress", "traefik"), "--ingress and --gateway both"),
        (("--gateway-image", "my/traefik:1"), "--gateway-image goes with --gateway"),
        (("--gateway", "traefik", "--ingress-image", "x:1"), "--ingress-image goes with --ingress"),
    ],
)
def test_conflicting_path_flags_are_refused(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        ingress_of(_args(*flags))


def test_a_load_through_a_gateway_is_not_taken_into_the_cluster() -> None:
    args = _args("--load-from", "cluster", "--gateway", "traefik")
    with pytest.raises(OptionError, match="--gateway goes with --load-from host"):
        placement_of(args)


def _manifest(tmp_path: Path) -> Path:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
        ports: [{containerPort: 8080}]
        lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
""",
        encoding="utf-8",
    )
    return manifest


def test_a_gateway_with_an_ingress_exits_2_before_any_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["prove", "-f", str(_manifest(tmp_path)), "--kubeconfig", str(tmp_path / "nope")]
    assert main([*argv, "--gateway", "traefik", "--ingress", "traefik"]) == 2
    assert "--ingress and --gateway both name a controller" in capsys.readouterr().err


def test_a_dry_run_through_the_gateway_needs_no_cluster(tmp_path: Path) -> None:
    argv = ["prove", "-f", str(_manifest(tmp_path)), "--kubeconfig", str(tmp_path / "nope")]
    assert main([*argv, "--gateway", "traefik", "--dry-run"]) == 0


def test_the_help_offers_the_gateway_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["prove", "--help"])
    out = capsys.readouterr().out
    for flag in ("--gateway {traefik}", "--gateway-image REF", "--gateway-node-port"):
        assert flag in out, flag
