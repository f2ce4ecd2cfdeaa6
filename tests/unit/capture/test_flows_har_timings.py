"""A HAR's timings give the same split as the flow they describe: HAR 1.2 counts `ssl` inside
`connect` (browsers write it so), mitmproxy's savehar writes them apart, pulltrace writes the
spec's form; -1 is "not applicable" (a reused connection)."""

from __future__ import annotations

import json

import pytest
from mitmproxy.addons.savehar import SaveHar
from test_flows_timings import blob_flow, connection, eager_blob, manifest_exchange

from pulltrace.capture.flows import flow_to_exchange
from pulltrace.capture.importers import har_to_exchanges
from pulltrace.model import Exchange
from pulltrace.pipeline import build_trace
from pulltrace.render.har import to_har
from pulltrace.timing import time_split


def entry(time: float | None, **timings: float) -> dict:
    e = {"startedDateTime": "2024-01-01T00:00:00Z",
         "request": {"method": "GET", "url": "https://r.test/v2/library/tiny/blobs/sha256:" + "a" * 64, "headers": []},
         "response": {"status": 200, "headers": [], "content": {"mimeType": "application/octet-stream"}},
         "timings": timings}
    if time is not None:
        e["time"] = time
    return e


def imported(*entries: dict) -> list[Exchange]:
    return har_to_exchanges({"log": {"entries": list(entries)}}, 1024)


def split_of(ex: Exchange) -> tuple[float | None, ...]:
    s = time_split(ex)
    return s.connect_ms, s.tls_ms, s.wait_ms, s.transfer_ms, s.total_ms


def test_a_browsers_connect_includes_its_ssl():
    # Chrome: connect 30 ms of which ssl 20 ms; time is the sum of the phases without ssl.
    (ex,) = imported(entry(93.1, blocked=2, dns=1, connect=30, ssl=20, send=0.1, wait=50, receive=10))
    assert split_of(ex) == (10.0, 20.0, 50.0, 10.0, 93.1)


def test_spec_form_without_a_time_still_takes_ssl_out_of_connect():
    (ex,) = imported(entry(None, connect=30, ssl=20, send=0, wait=50, receive=10))
    assert (ex.timings.connect_ms, ex.timings.tls_ms) == (10.0, 20.0)


@pytest.mark.parametrize(("connect", "ssl"), [(-1, -1), (-1, 20), (5, -1)])
def test_minus_one_is_not_applicable(connect, ssl):
    (ex,) = imported(entry(60.0, connect=connect, ssl=ssl, send=0, wait=50, receive=10))
    want = (None if connect < 0 else float(connect), None if ssl < 0 else float(ssl))
    assert (ex.timings.connect_ms, ex.timings.tls_ms) == want


def test_mitmproxys_savehar_keeps_connect_and_ssl_apart():
    # The same eager flow through mitmproxy's own HAR writer: its connect (1305 ms) is longer than its
    # ssl (20 ms), so only its `time` (which counts both) says they are apart.
    har = SaveHar().make_har([eager_blob()])
    assert har["log"]["entries"][0]["timings"]["connect"] == pytest.approx(1305.0)
    (ex,) = imported(*json.loads(json.dumps(har))["log"]["entries"])
    assert (ex.timings.connect_ms, ex.timings.tls_ms) == (pytest.approx(1305.0), pytest.approx(20.0))


def test_pulltraces_own_har_reads_back_the_split_it_was_written_from():
    lazy = connection(blob_flow(req=(1001.000, 1001.001), resp=(1001.062, 1001.100)),
                      start=1001.002, tcp=1001.012, tls=1001.042)
    trace = build_trace([manifest_exchange(), flow_to_exchange(lazy), flow_to_exchange(eager_blob())], "test")
    har = to_har(trace)
    written = [e["timings"] for e in har["log"]["entries"]][1:]
    assert [(t["connect"], t["ssl"], t["wait"]) for t in written] == [(40.0, 30.0, 20.0), (-1, -1, 19.0)]
    back = imported(*har["log"]["entries"])[1:]
    assert [split_of(ex) for ex in back] == [(10.0, 30.0, 20.0, 38.0, 100.0), (None, None, 19.0, 55.0, 75.0)]
