"""The traffic seam: kinds registered by definition, their settings checked, their
records summarized, and the workload port each one enters."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from graceproof.errors import WorkloadSpecError
from graceproof.hooks import SleepHook
from graceproof.load import LoadSettings, default_locustfile
from graceproof.model import RequestRecord
from graceproof.traffic import TRAFFIC_KINDS, Traffic, kinds, traffic
from graceproof.workloads import SampleApp
from graceproof.workloads.base import Target


def test_the_shipped_kinds_are_registered_with_their_locustfiles() -> None:
    assert {"new", "keepalive", "grpc-unary", "grpc-stream", "websocket", "sse"} <= set(kinds())
    for name in kinds():
        assert default_locustfile(name).is_file(), name
    assert default_locustfile("grpc-unary").name == "locust_grpc.py"
    assert default_locustfile("websocket").name == "locust_websocket.py"
    assert default_locustfile("sse").name == "locust_sse.py"
    assert traffic("new").routes_each_request and not traffic("keepalive").routes_each_request


def test_a_new_kind_is_one_subclass_and_a_second_with_its_name_replaces_it_with_a_warning() -> None:
    # The kinds defined here leave no trace in the registry.
    with TRAFFIC_KINDS.scratch():

        class Mqtt(Traffic):
            name = "test-mqtt"
            locustfile = "locust_mqtt.py"
            port = "mqtt"
            modes: ClassVar[tuple[str, ...]] = ("closed",)

        assert traffic("test-mqtt").port == "mqtt"
        with pytest.warns(UserWarning, match="'test-mqtt': .*Other replaces .*Mqtt"):

            class Other(Traffic):
                name = "test-mqtt"

        assert isinstance(traffic("test-mqtt"), Other)

    assert "test-mqtt" not in kinds()


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown connection policy .*'smtp'.*websocket"):
        LoadSettings(connection="smtp")


@pytest.mark.parametrize("kind", ["websocket", "sse"])
def test_a_held_stream_refuses_the_open_loop(kind: str) -> None:
    with pytest.raises(ValueError, match=f"'{kind}' runs in mode closed, not 'open'"):
        LoadSettings(connection=kind, mode="open", rate=100)


def test_options_are_checked_against_the_kind_and_passed_as_environment() -> None:
    settings = LoadSettings(connection="grpc-unary", options={"grpc_delay": "0.2"})
    assert settings.environment()["GRACEPROOF_GRPC_DELAY"] == "0.2"
    with pytest.raises(ValueError, match=r"options \['grpc_dleay'\].*takes \['grpc_delay'"):
        LoadSettings(connection="grpc-unary", options={"grpc_dleay": "0.2"})
    with pytest.raises(ValueError, match="takes none"):
        LoadSettings(connection="new", options={"grpc_delay": "0.2"})


def _rec(ok: bool, **kw: Any) -> RequestRecord:
    return RequestRecord(t=1.0, duration=0.1, ok=ok, status=kw.pop("status", 0), **kw)


def test_grpc_summary_counts_calls_by_status_code() -> None:
    records = [
        _rec(True, detail={"code": "OK", "messages": 10}),
        _rec(False, status=14, error="grpc_unavailable", detail={"code": "UNAVAILABLE"}),
        _rec(False, error="stream_short", detail={"code": "OK", "messages": 3}),
    ]
    summary = traffic("grpc-stream").summarize(records)
    assert summary == {
        "calls": 3,
        "status_codes": {"OK": 2, "UNAVAILABLE": 1},
        "messages": 13,
        "short_streams": 1,
    }


def test_websocket_summary_counts_cuts_closes_and_reconnections() -> None:
    records = [
        _rec(True, status=1001, pod="a", detail={"closed_by": "server", "messages": 50}),
        _rec(False, error="stream_cut", pod="b", detail={"messages": 20}),
        _rec(
            True,
            status=1000,
            pod="c",
            detail={"closed_by": "client", "messages": 9, "reconnect_s": 0.02, "previous_pod": "a"},
        ),
        _rec(
            True,
            status=1000,
            pod="b",
            detail={"closed_by": "client", "messages": 1, "reconnect_s": 0.5, "previous_pod": "b"},
        ),
    ]
    s = traffic("websocket").summarize(records)
    assert s is not None
    assert (s["streams"], s["cut"], s["closed_by_server"], s["close_codes"]) == (4, 1, 1, [1001])
    assert (s["reconnects"], s["reconnected_elsewhere"], s["messages"]) == (2, 1, 80)
    assert s["reconnect_s"] == {"median": 0.26, "max": 0.5, "min": 0.02}


def test_sse_summary_counts_cuts_server_ends_and_reconnections_as_websockets_do() -> None:
    records = [
        _rec(True, status=200, pod="a", detail={"closed_by": "server", "messages": 50}),
        _rec(False, status=200, error="stream_cut", pod="b", detail={"messages": 20}),
        _rec(False, status=200, error="timeout", pod="b", detail={"messages": 3}),
        _rec(False, status=503, error="http_5xx", pod="a"),  # never opened
        _rec(
            True,
            status=200,
            pod="c",
            detail={"closed_by": "client", "messages": 9, "reconnect_s": 0.03, "previous_pod": "a"},
        ),
    ]
    s = traffic("sse").summarize(records)
    assert s == {
        "streams": 5,
        "cut": 1,
        "timed_out": 1,
        "closed_by_server": 1,
        "messages": 82,
        "reconnects": 1,
        "reconnected_elsewhere": 1,
        "reconnect_s": {"median": 0.03, "max": 0.03, "min": 0.03},
    }
    assert traffic("sse").describe(s) == (
        "5 streams: 1 cut, 1 silent, 1 ended by the server (its `end` event); "
        "1 reconnections, 1 to another pod in 0.030-0.030 s (median 0.030 s)"
    )
    assert set(traffic("sse").error_kinds) == {"stream_cut", "stream_error"}


def test_records_keep_their_detail_through_json() -> None:
    record = _rec(False, status=14, error="grpc_unavailable", detail={"code": "UNAVAILABLE"})
    assert RequestRecord.from_dict(record.to_dict()) == record
    assert "detail" not in _rec(True).to_dict()  # HTTP records keep their old form


def test_a_target_names_the_missing_port_and_the_fix() -> None:
    target = Target("Deployment", "web", "app=web", "web", 30080, 2, 30, node_ports={"grpc": 1})
    assert target.node_port_for("http") == 30080 and target.node_port_for("grpc") == 1
    with pytest.raises(WorkloadSpecError, match=r"deployment/web serves no 'websocket' NodePort"):
        target.node_port_for("websocket")


def test_the_sample_app_serves_each_protocol_on_its_own_port() -> None:
    app = SampleApp(SleepHook(5), node_port=30082, protocols=("grpc", "websocket", "sse"))
    assert app.protocol_node_ports() == {"grpc": 30083, "websocket": 30084, "sse": 30085}
    deployment, service = app.manifests("img")[:2]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["GRPC_PORT"], env["WS_PORT"], env["SSE_PORT"]) == ("8081", "8082", "8083")
    ports = {p["name"]: (p["targetPort"], p["nodePort"]) for p in service["spec"]["ports"]}
    assert ports == {
        "http": (8080, 30082),
        "grpc": (8081, 30083),
        "websocket": (8082, 30084),
        "sse": (8083, 30085),
    }
    # The traffic kind enters the port of its name.
    assert traffic("sse").port in app.protocol_node_ports()
    with pytest.raises(WorkloadSpecError, match=r"\['quic'\] not served"):
        SampleApp(SleepHook(5), protocols=("quic",))
    with pytest.raises(WorkloadSpecError, match="the websocket NodePort it implies, 32769"):
        SampleApp(SleepHook(5), node_port=32767, protocols=("websocket",))


def test_summaries_read_as_words_in_reports_even_for_an_unknown_kind() -> None:
    from graceproof.traffic import describe_summary

    ws = {
        "streams": 20,
        "cut": 0,
        "timed_out": 0,
        "closed_by_server": 10,
        "close_codes": [1001],
        "reconnects": 10,
        "reconnected_elsewhere": 10,
        "reconnect_s": {"median": 0.017, "max": 0.023, "min": 0.012},
    }
    assert describe_summary("websocket", ws) == (
        "20 streams: 0 cut, 0 silent, 10 closed by the server (1001); 10 reconnections, "
        "10 to another pod in 0.012-0.023 s (median 0.017 s)"
    )
    grpc = {"calls": 5, "status_codes": {"OK": 4, "UNAVAILABLE": 1}}
    assert describe_summary("grpc-unary", grpc) == (
        "5 gRPC calls by status code: OK 4, UNAVAILABLE 1"
    )
    assert describe_summary("someone-elses", {"sessions": 3}) == "sessions 3"
    assert describe_summary("new", None) == ""


def test_a_run_waits_for_the_longest_request_of_its_kind_at_its_end() -> None:
    stream = LoadSettings(
        connection="grpc-stream",
        timeout_s=3.0,
        options={"stream_messages": "100", "stream_interval": "0.1"},
    )
    assert stream.longest_call_s == pytest.approx(13.0) and stream.stop_timeout_s == 14
    assert stream.environment()["GRACEPROOF_LONGEST_CALL"] == "13.0"
    unary = LoadSettings(connection="grpc-unary", timeout_s=2.0, options={"grpc_delay": "0.5"})
    assert unary.longest_call_s == pytest.approx(2.5)
    assert LoadSettings(timeout_s=2.0, mode="open", rate=10).stop_timeout_s == 5  # 2 x 2 + 1


def test_a_kind_whose_module_is_missing_names_the_extra_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import importlib.util

    from graceproof.errors import LoadError
    from graceproof.load import LoadRun

    assert traffic("grpc-unary").requires == traffic("grpc-stream").requires == (("grpc", "grpc"),)
    assert traffic("websocket").requires == (("websocket", "websocket"),)
    assert traffic("sse").requires == (("sseclient", "sse"),)  # sseclient-py
    assert traffic("new").missing() is None  # HTTP needs nothing beyond Locust
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "grpc" else real(name, *a)
    )
    why = traffic("grpc-unary").missing()
    assert why == (
        "the 'grpc-unary' traffic kind needs the Python module 'grpc', which is not installed: "
        "pip install 'graceproof[grpc]'"
    )
    run = LoadRun(30080, LoadSettings(connection="grpc-unary"), duration_s=5,
                  records_path=tmp_path / "r.jsonl")  # fmt: skip
    with pytest.raises(LoadError, match=r"pip install 'graceproof\[grpc\]'"):
        run.start()
