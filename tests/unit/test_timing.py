"""Time split, throughput and cache verdicts read off recorded exchanges: the Docker Hub and
quay.io seed pulls (Cloudflare and CloudFront headers as those CDNs sent them) and a lab
capture whose phases mitmproxy recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulltrace.model import Exchange, Timings, load_trace
from pulltrace.timing import BYPASS, HIT, MISS, blob_deliveries, cache_info, session_span_ms, throughput, time_split

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def ex(headers: list[tuple[str, str]] | None = None, **kw: object) -> Exchange:
    return Exchange(id="x", method="GET", url="https://cdn.example/blob", started_at=0.0, status=200,
                    response_headers=headers or [], **kw)  # type: ignore[arg-type]


def test_docker_hub_cloudflare_hit_names_its_edge_and_redirect():
    (session,) = load_trace(SAMPLES / "seeds" / "001-dockerhub-alpine.json").sessions
    (config,) = blob_deliveries(session)
    assert (config.role, config.host, config.redirected_from) == (
        "config", "production.cloudflare.docker.com", "registry-1.docker.io")
    assert config.cache.verdict == HIT
    assert config.cache.pop == "HKG"  # the colo in Cf-Ray 5c59fe3f5d61258d-HKG
    assert config.cache.headers == (("cf-cache-status", "HIT"), ("cf-ray", "5c59fe3f5d61258d-HKG"),
                                    ("age", "2277324"))
    # 40 ms redirect + 40 ms download; no phases recorded, so throughput is over the whole exchange.
    assert config.time_ms == 80.0
    assert config.throughput == pytest.approx(1509 / 0.040)
    assert not config.split.recorded


def test_quay_cloudfront_miss_on_each_blob():
    (session,) = load_trace(SAMPLES / "seeds" / "001-quay-alpine-curl.json").sessions
    got = [(d.role, d.host, d.cache.verdict, d.bytes, d.time_ms) for d in blob_deliveries(session)]
    assert got == [("layer 2/2", "cdn02.quay.io", MISS, 688971, 940.0), ("config", "cdn02.quay.io", MISS, 1926, 160.0)]
    assert [d.is_layer for d in blob_deliveries(session)] == [True, False]
    assert session_span_ms(session) == 30120.0


def test_lab_capture_throughput_uses_the_recorded_transfer_phase():
    session = load_trace(SAMPLES / "lab" / "docker-hub-multi.json").sessions[0]
    layer = next(d for d in blob_deliveries(session) if d.role == "layer 1/1")
    # Recorded before the split kept eager setup apart: its 2.045 ms connect and 4.402 ms TLS cannot fit
    # in the 3.557 ms exchange, so they were done before the request (mitmproxy connects at CONNECT).
    assert (layer.split.connect_ms, layer.split.tls_ms, layer.split.wait_ms, layer.split.transfer_ms) == (
        None, None, 1.954, 1.204)
    assert (layer.split.early_connect_ms, layer.split.early_tls_ms, layer.split.total_ms) == (2.045, 4.402, 3.557)
    assert layer.throughput == pytest.approx(679 / 0.001204)
    assert layer.cache.verdict == "" and layer.cache.headers == ()  # the lab's nginx sends no cache headers


def test_only_bodies_that_arrived_count_as_deliveries():
    session = load_trace(SAMPLES / "lab" / "docker-hub-multi.json").sessions[0]
    kinds = {d.step.kind.value for d in blob_deliveries(session)}
    assert kinds == {"cdn-download"}  # the 307s carry no body


@pytest.mark.parametrize(("headers", "verdict"), [
    ([("CF-Cache-Status", "MISS")], MISS),
    ([("cf-cache-status", "EXPIRED")], MISS),
    ([("cf-cache-status", "REVALIDATED")], HIT),
    ([("cf-cache-status", "DYNAMIC")], BYPASS),
    ([("X-Cache", "Hit from cloudfront")], HIT),
    ([("X-Cache", "Miss from cloudfront")], MISS),
    ([("X-Cache", "MISS, HIT")], HIT),  # Fastly: shield missed, the edge nearest the client hit
    ([("X-Cache", "HIT, MISS")], MISS),
    ([("Age", "12")], HIT),
    ([("Age", "0")], ""),
    ([("Via", "1.1 varnish")], ""),
    ([], ""),
])
def test_cache_verdict(headers, verdict):
    assert cache_info(ex(headers)).verdict == verdict


def test_cloudfront_pop_and_fastly_node():
    assert cache_info(ex([("X-Amz-Cf-Pop", "FRA56-P5"), ("X-Cache", "Miss from cloudfront")])).pop == "FRA56-P5"
    assert cache_info(ex([("X-Served-By", "cache-iad-1, cache-fra-2")])).pop == "cache-fra-2"


def test_reused_connection_has_no_connect_phase_and_no_bytes_no_throughput():
    reused = ex(timings=Timings(connect_ms=-1, tls_ms=-1, wait_ms=5.0, receive_ms=20.0), duration_ms=26.0,
                response_bytes=2_000_000)
    split = time_split(reused)
    assert (split.connect_ms, split.tls_ms, split.wait_ms, split.transfer_ms) == (None, None, 5.0, 20.0)
    assert throughput(reused) == pytest.approx(100_000_000.0)
    assert throughput(ex(duration_ms=10.0, response_bytes=0)) is None
    assert throughput(ex(response_bytes=10)) is None
