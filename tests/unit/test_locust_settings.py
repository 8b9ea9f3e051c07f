"""The one Locust contract: the locustfile's settings are declared once
(workloads/locust_settings.py), graceproof writes them from that declaration, and the
locustfile reads them as Locust options. These tests compare what could still differ:
the options real Locust parses, LoadSettings' own defaults, and what ships beside the
locustfile.

Locust is never imported here (it monkey-patches gevent into the process): the parser
is read in a subprocess.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from graceproof.load import DEFAULT_SOURCE_PORTS, LoadSettings, locustfiles
from graceproof.placement import InCluster, LoadContext
from graceproof.traffic import kinds, traffic
from graceproof.workloads.base import Target

if TYPE_CHECKING:  # the fixture's type, from tests/unit/conftest.py
    from conftest import RunningApp

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "workloads"
DECLARATION = locustfiles.declaration

# What real Locust makes of the locustfiles' options: each graceproof one with its
# variable, default and whether the web UI shows it.
_PARSER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import locust_grpc, locust_websocket, locust_sse  # and through them, the locustfile
from locust.argument_parser import get_parser
print(json.dumps({
    a.dest: {"env": a.env_var, "default": a.default, "option": a.option_strings,
             "web_ui": getattr(a, "include_in_web_ui", None)}
    for a in get_parser()._actions if (getattr(a, "env_var", None) or "").startswith("GRACEPROOF_")
}))
"""


def _locust_options() -> dict[str, dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-c", _PARSER, str(WORKLOADS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    options: dict[str, dict[str, object]] = json.loads(out.stdout)
    return options


def test_every_load_setting_is_a_locust_option_with_its_variable_and_default() -> None:
    options = _locust_options()
    load = [s for s in DECLARATION.SETTINGS if s.scope == "load"]
    assert sorted(options) == sorted(s.dest for s in load)
    for s in load:
        assert options[s.dest] == {
            "env": s.env,
            "default": DECLARATION.render(s.default),
            "option": [s.option],
            "web_ui": False,  # graceproof's plumbing, not a knob of Locust's web UI
        }, s.name
    # Per-process settings stay out of Locust's options: a master would send its own
    # records file and pod name to every worker.
    process = {s.env for s in DECLARATION.SETTINGS if s.scope == "process"}
    assert process and not process & {o["env"] for o in options.values()}


def test_load_settings_defaults_are_the_locustfiles_own() -> None:
    # What a bare Locust run takes is what LoadSettings() asks for (the drift this
    # contract ended: wait_s 0.01 on one side, 0.02 on the other).
    env = LoadSettings().environment()
    read, problems = DECLARATION.read(None, env)
    assert problems == []
    bare = DECLARATION.Settings()
    for name in locustfiles.declared("load"):
        if name == "users":
            continue  # LoadSettings decides it (10); unset, the locustfile takes --users
        if name == "longest_call_s":
            assert getattr(read, name) == bare.timeout_s  # unset: the timeout
            continue
        assert getattr(read, name) == getattr(bare, name), name
    assert bare.wait_s == LoadSettings().wait_s == 0.01
    assert bare.source_ports == DEFAULT_SOURCE_PORTS
    # Below the NodePort range, where kind's docker-proxy listens.
    assert int(DEFAULT_SOURCE_PORTS.split("-")[1]) < 30000


def test_every_setting_load_settings_takes_reaches_the_locustfile_as_it_was() -> None:
    settings = LoadSettings(
        users=4,
        connection="keepalive",
        timeout_s=1.5,
        wait_s=0.2,
        path="/slow?seconds=1",
        method="HEAD",
        host_header="web.example",
        expect_status=(200, 204),
        source_ports="20000-20999",
        mode="open",
        rate=40.0,
        max_in_flight=7,
        late_after_s=0.05,
    )
    read, problems = DECLARATION.read(None, settings.environment())
    assert problems == []
    for name in locustfiles.declared("load"):
        assert getattr(read, name) == getattr(settings, name), name
    grpc = LoadSettings(connection="grpc-stream", options={"stream_messages": "5"})
    assert DECLARATION.read(None, grpc.environment())[0].stream_messages == 5


def test_what_the_locustfile_cannot_parse_is_refused_by_load_settings() -> None:
    with pytest.raises(ValueError, match="GRACEPROOF_SOURCE_PORTS must be FIRST-LAST"):
        LoadSettings(source_ports="30000")
    with pytest.raises(ValueError, match="GRACEPROOF_GRPC_DELAY must be a number"):
        LoadSettings(connection="grpc-unary", options={"grpc_delay": "soon"}).environment()


def test_every_option_of_a_traffic_kind_is_declared() -> None:
    for name in kinds():
        for option in traffic(name).options:
            assert option in DECLARATION.BY_NAME, (name, option)
            assert DECLARATION.BY_NAME[option].kind, (name, option)


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module, docstrings aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


def test_the_variables_are_named_in_the_declaration_only() -> None:
    variables = {s.env for s in DECLARATION.SETTINGS}
    sources = [
        *(ROOT / "src").rglob("*.py"),
        *WORKLOADS.glob("*.py"),
        *(ROOT / "fixtures").rglob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
        *(ROOT / "hack").glob("*.py"),
    ]
    written = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sources
        if path.name != locustfiles.SETTINGS_FILE
        for line, text in _strings(path)
        if any(v in text for v in variables)
    ]
    assert written == []


def _configmap(tmp_path: Path) -> dict[str, str]:
    target = Target("Deployment", "web", "app=web", "web", 0, 2, 30, pod_port=8080)
    ctx = LoadContext(None, "ns", target, LoadSettings(), 30, tmp_path / "r.jsonl")  # type: ignore[arg-type]
    data: dict[str, str] = InCluster().runner(ctx)._configmap()["data"]
    return data


def test_the_configmap_carries_every_module_the_locustfiles_import(tmp_path: Path) -> None:
    data = _configmap(tmp_path)
    for name in ("locustfile.py", "locust_grpc.py", "locust_websocket.py", "locust_sse.py"):
        tree = ast.parse(data[name])
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        ours = {m for m in imported if (WORKLOADS / f"{m}.py").is_file()}
        assert ours and {f"{m}.py" for m in ours} <= set(data), (name, ours)
        assert data[name] == (WORKLOADS / name).read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRACEPROOF_")}
    return {**base, "GRACEPROOF_SOURCE_PORTS": "kernel", **env}


def test_the_configmaps_files_alone_run_the_load(app: RunningApp, tmp_path: Path) -> None:
    # What an in-cluster pod has at /locust, and nothing else of the checkout.
    folder = tmp_path / "locust"
    folder.mkdir()
    for name, text in _configmap(tmp_path).items():
        (folder / name).write_text(text, encoding="utf-8")
    records = tmp_path / "records.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(folder / "locustfile.py"), "--headless",
         "-u", "1", "-r", "1", "-t", "2s", "--host", f"http://127.0.0.1:{app.port}",
         "--only-summary"],
        env=_clean_env(GRACEPROOF_RECORDS=str(records)), cwd=tmp_path,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = records.read_text().splitlines()
    assert lines and all(json.loads(line)["ok"] for line in lines)
    shutil.rmtree(folder)


def test_a_worker_takes_the_masters_settings(app: RunningApp, tmp_path: Path) -> None:
    # Locust hands its options to the workers: a worker started without them runs the
    # master's path and counts the master's expected status as success.
    port, host = _free_port(), f"http://127.0.0.1:{app.port}"
    locust = [sys.executable, "-m", "locust", "-f", str(WORKLOADS / "locustfile.py")]
    master_env = _clean_env(GRACEPROOF_PATH="/status?code=503", GRACEPROOF_EXPECT="503")
    master = subprocess.Popen(
        [*locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
         str(port), "--headless", "-u", "1", "-r", "1", "-t", "2s", "--expect-workers", "1",
         "--only-summary", "--host", host],
        env=master_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    records = tmp_path / "worker.jsonl"
    worker = subprocess.Popen(
        [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
         "--host", host],
        env=_clean_env(GRACEPROOF_RECORDS=str(records)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _, err = master.communicate(timeout=60)
        worker.wait(timeout=30)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
    assert master.returncode == 0, err.decode()[-2000:]
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert lines and all(r["ok"] and r["status"] == 503 for r in lines)
