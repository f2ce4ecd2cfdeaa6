"""The addon's fleet options under mitmproxy's test harness: declared, validated, fed per pull."""

import logging
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import exceptions
from mitmproxy.test import taddons

from pulltrace.capture.addon import PullTrace
from pulltrace.model import load_trace
from pulltrace.sinks import otlp

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "lab"


def _taken() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_metrics_node_and_rotation_options(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_node="fleet-q", pulltrace_jsonl_max_mb=2,
                       pulltrace_metrics="127.0.0.1:0")
        try:
            assert (pt.settings.node, pt.settings.jsonl_max_bytes, pt.recorder.node) == ("fleet-q", 2 << 20, "fleet-q")
            metrics = pt.exporters.metrics
            assert metrics is not None and metrics.port
            # A finished pull reaches the metrics through the recorder's sinks, stamped with the node.
            session = load_trace(SAMPLES / "docker-hub-multi.json").sessions[0]
            session.node = ""
            pt.recorder._hand_out([session])
            assert session.node == "fleet-q"
            text = httpx.get(f"http://127.0.0.1:{metrics.port}/metrics").text
            assert 'pulltrace_pulls_total{registry="hub.pulltrace.test",result="ok"} 1.0' in text
            assert 'pulltrace_info{node="fleet-q"' in text
            with pytest.raises(exceptions.OptionsError, match="pulltrace_jsonl_max_mb"):
                tctx.configure(pt, pulltrace_jsonl_max_mb=-1)
            pt.loop = object()  # running (after start a bad value is refused, the old endpoint kept)
            with pytest.raises(exceptions.OptionsError, match="pulltrace_metrics: 'nine' is not HOST:PORT"):
                tctx.configure(pt, pulltrace_metrics="nine")
            assert pt.exporters.metrics is metrics
        finally:
            pt.exporters.close()


def test_a_port_in_use_at_start_is_one_logged_line_and_later_an_options_error(tmp_path, caplog):
    pt = PullTrace()
    with _taken() as taken, taddons.context(pt) as tctx:
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="pulltrace"):
            tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_metrics=f"127.0.0.1:{port}")
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert [r.getMessage() for r in errors] == [
            f"pulltrace_metrics: cannot serve metrics on 127.0.0.1:{port}: the address is in use "
            "(another exporter, or a second pulltrace?)"]
        assert errors[0].exc_info is None  # one line, no traceback
        pt.loop = object()  # running: mitmproxy called the running hook
        with pytest.raises(exceptions.OptionsError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            tctx.configure(pt, pulltrace_metrics=f"127.0.0.1:{port}")
    assert pt.exporters.metrics is None


def test_an_otlp_url_is_validated_and_the_exporter_replaced_whole(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        pt.loop = object()
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_otlp="http://127.0.0.1:4318")
        tracer = pt.exporters.tracer
        assert tracer is not None and tracer.endpoint == "http://127.0.0.1:4318/v1/traces"
        with pytest.raises(exceptions.OptionsError, match="pulltrace_otlp: 'collector:4318' is not an http"):
            tctx.configure(pt, pulltrace_otlp="collector:4318")
        assert pt.exporters.tracer is tracer  # a refused URL changes nothing
        tctx.configure(pt, pulltrace_otlp="")
        assert pt.exporters.tracer is None


_JWT = st.from_regex(r"eyJ[A-Za-z0-9_-]{10,30}\.[A-Za-z0-9_-]{10,40}\.[A-Za-z0-9_-]{10,40}", fullmatch=True)
_AROUND = st.text(alphabet=" :;,()[]{}<>\"'=/\n\t", max_size=6)


@settings(max_examples=200)
@given(before=_AROUND, token=_JWT, after=_AROUND)
def test_no_jwt_survives_an_exported_attribute(before, token, after):
    attrs = otlp._clean({"a": before + token + after, "b": [token, f"Bearer {token}"]})
    assert not any(token in v for value in attrs.values() for v in ([value] if isinstance(value, str) else value))


def test_a_capture_without_metrics_or_traces_never_loads_their_libraries(tmp_path):
    # prometheus-client and the OpenTelemetry SDK (with protobuf) are about 130 modules and tens
    # of thousands of objects every full garbage collection of mitmproxy's process would walk.
    code = (
        "import sys\n"
        "from mitmproxy.test import taddons\n"
        "from pulltrace.capture.addon import PullTrace\n"
        "pt = PullTrace()\n"
        "with taddons.context(pt) as tctx:\n"
        f"    tctx.configure(pt, pulltrace_dir={str(tmp_path)!r}, pulltrace_metrics='', pulltrace_otlp='')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prometheus_client', 'opentelemetry', 'google'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]
