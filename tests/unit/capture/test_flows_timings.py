"""A flow's time split as mitmproxy's own test flows record it: a connection set up at CONNECT
time (the default eager strategy), one opened for the request (lazy), and one reused by a second
request. The split a user reads in the terminal, Markdown and HTML views adds up to at most the
exchange's duration; setup done before the request is shown as such, never counted in it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from addonflows import BLOB, DIGEST, MANIFEST
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from pulltrace.capture.flows import flow_to_exchange
from pulltrace.model import Exchange, Trace
from pulltrace.pipeline import build_trace
from pulltrace.render.html import render_html
from pulltrace.render.markdown import render_markdown
from pulltrace.render.rows import anchor_map
from pulltrace.render.speed import PhaseRow, delivery_rows
from pulltrace.render.text import render_text
from pulltrace.timing import time_split

SCHEMA = Path(__file__).resolve().parents[3] / "pulltrace" / "trace-v2.schema.json"
REGISTRY = "hub.pulltrace.test"


def flow(path: str, *, req: tuple[float, float], resp: tuple[float, float], content: bytes = b"",
         headers: tuple[tuple[str, str], ...] = ()) -> http.HTTPFlow:
    request = tutils.treq(host=REGISTRY, port=443, scheme=b"https", method=b"GET", path=path.encode(),
                          headers=http.Headers(), content=b"", timestamp_start=req[0], timestamp_end=req[1])
    response = tutils.tresp(status_code=200, reason=b"OK",
                            headers=http.Headers([(k.encode(), v.encode()) for k, v in headers]),
                            content=content, timestamp_start=resp[0], timestamp_end=resp[1])
    return tflow.tflow(req=request, resp=response)


def blob_flow(**kw: tuple[float, float]) -> http.HTTPFlow:
    return flow(f"/v2/library/tiny/blobs/{DIGEST}", content=BLOB,
                headers=(("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BLOB)))), **kw)


def connection(f: http.HTTPFlow, start: float, tcp: float, tls: float) -> http.HTTPFlow:
    conn = f.server_conn
    conn.timestamp_start, conn.timestamp_tcp_setup, conn.timestamp_tls_setup = start, tcp, tls
    return f


def eager_blob() -> http.HTTPFlow:
    """The case seen on real traffic: mitmproxy connected (1305 ms) and handshook (20 ms) upstream
    when the client sent CONNECT; the request came later and took 75 ms."""
    return connection(blob_flow(req=(1001.000, 1001.001), resp=(1001.020, 1001.075)),
                      start=999.600, tcp=1000.905, tls=1000.925)


def manifest_exchange() -> Exchange:
    body = MANIFEST
    f = flow("/v2/library/tiny/manifests/latest", req=(1000.0, 1000.001), resp=(1000.010, 1000.020), content=body,
             headers=(("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
                      ("Content-Length", str(len(body)))))
    return flow_to_exchange(connection(f, start=1000.002, tcp=1000.003, tls=1000.004))  # opened for it (lazy)


def split_of(ex: Exchange) -> tuple[float | None, ...]:
    s = time_split(ex)
    return s.connect_ms, s.tls_ms, s.wait_ms, s.transfer_ms, s.total_ms, s.early_connect_ms, s.early_tls_ms


def test_setup_at_connect_time_is_kept_apart_from_the_request():
    ex = flow_to_exchange(eager_blob())
    assert (ex.timings.connect_ms, ex.timings.tls_ms) == (None, None)
    assert (ex.timings.early_connect_ms, ex.timings.early_tls_ms) == (1305.0, 20.0)
    assert split_of(ex) == (None, None, 19.0, 55.0, 75.0, 1305.0, 20.0)


def test_a_connection_opened_for_the_request_is_waited_for_inside_it():
    # Lazy: mitmproxy connects once the request arrived; the answer is awaited from then on.
    f = connection(blob_flow(req=(1001.000, 1001.001), resp=(1001.062, 1001.100)),
                   start=1001.002, tcp=1001.012, tls=1001.042)
    ex = flow_to_exchange(f)
    assert split_of(ex) == (10.0, 30.0, 20.0, 38.0, 100.0, None, None)
    assert 10.0 + 30.0 + 20.0 + 38.0 <= ex.duration_ms


def test_setup_that_straddles_the_requests_start_is_cut_there():
    f = connection(blob_flow(req=(1001.000, 1001.001), resp=(1001.030, 1001.040)),
                   start=1000.990, tcp=1001.010, tls=1001.020)
    assert split_of(flow_to_exchange(f)) == (10.0, 10.0, 10.0, 10.0, 40.0, 10.0, None)


def test_a_reused_connection_has_no_setup_of_its_own():
    first = eager_blob()
    second = blob_flow(req=(1002.000, 1002.001), resp=(1002.011, 1002.031))
    second.server_conn = first.server_conn
    ex = flow_to_exchange(second, first_on_connection=False)
    assert split_of(ex) == (None, None, 10.0, 20.0, 31.0, None, None)
    # Told it was first, a request on a connection set up long before still counts none of it.
    assert split_of(flow_to_exchange(second)) == (None, None, 10.0, 20.0, 31.0, 1305.0, 20.0)


def eager_trace():
    return build_trace([manifest_exchange(), flow_to_exchange(eager_blob())], "test")


def test_the_why_slow_row_shows_the_setup_as_before_the_request():
    trace = eager_trace()
    (row,) = delivery_rows(trace.sessions[0], anchor_map(trace))
    assert (row.blob, row.time, row.connect, row.tls, row.wait, row.transfer) == (
        "config", "75 ms", "1.30 s before the request", "20 ms before the request", "19 ms", "55 ms")
    assert row.phases == (PhaseRow("wait", "Wait", "19 ms", "25.7"), PhaseRow("transfer", "Transfer", "55 ms", "74.3"))
    assert row.setup_early == "connection set up before the request (connect 1.30 s, TLS 20 ms): not part of its time"
    zh = delivery_rows(trace.sessions[0], anchor_map(trace), lang="zh")[0]
    assert (zh.connect, zh.setup_early) == (
        "请求前 1.30 s", "连接在请求之前建立（连接 1.30 s, TLS 20 ms），不计入本次耗时")


def test_terminal_markdown_and_html_show_the_same_split():
    trace = eager_trace()
    wide = render_text(trace, wide=True).split("Why slow:", 1)[1].splitlines()
    (line,) = [line for line in wide if line.startswith("2 ")]
    # 1.3 s to open the connection of a 75 ms pull: the doctor's slow-connect mark is on the row.
    assert line.split()[1:4] == ["config", "(slow", "connect)"]
    assert line.split()[10:26] == ["75", "ms", "1.30", "s", "before", "the", "request", "20", "ms", "before", "the",
                                   "request", "19", "ms", "55", "ms"]
    md = [line for line in render_markdown(trace).splitlines() if line.startswith("| config ")]
    assert md[0].split(" | ")[5:10] == ["75 ms", "1.30 s before the request", "20 ms before the request", "19 ms",
                                        "55 ms"]
    html = render_html(trace)
    assert ('<span class="ph ph-wait" style="width:25.7%" title="Wait 19 ms"></span>'
            '<span class="ph ph-transfer" style="width:74.3%" title="Transfer 55 ms"></span>') in html
    assert 'class="ph ph-connect"' not in html and 'class="ph ph-tls"' not in html
    assert ('<div class="muted early">connection set up before the request (connect 1.30 s, TLS 20 ms): '
            'not part of its time</div>') in html
    # The step's own timings list says the same.
    assert "<tr><th>connect, before the request</th><td>1305.0 ms</td></tr>" in html


def test_the_trace_keeps_the_early_setup_and_writes_it_only_when_recorded():
    data = eager_trace().to_dict()
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    manifest, blob = (step["exchange"]["timings"] for step in data["sessions"][0]["steps"])
    assert "early_connect_ms" not in manifest and "early_tls_ms" not in manifest
    assert (blob["connect_ms"], blob["early_connect_ms"], blob["early_tls_ms"]) == (None, 1305.0, 20.0)
    back = Trace.from_dict(data).sessions[0].steps[1].exchange
    assert split_of(back) == (None, None, 19.0, 55.0, 75.0, 1305.0, 20.0)
