"""Speed rules on recorded pulls: a layer far slower than its peers, a cache miss that cost most
of the pull, a connection slow to open, and silence on every sample in samples/ (none of them is
slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from diagnose_recorded import CDN, HUB, healthy_hub_pull

from pulltrace.diagnose import diagnose
from pulltrace.diagnose.speed import costly_miss, slow_layer
from pulltrace.model import Link, Session, Severity, StepKind, Timings, load_trace
from pulltrace.pipeline import build_trace

MiB = 1024 * 1024
SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def pull_with_layers(layers: list[tuple[int, float, list[tuple[str, str]]]]) -> Session:
    """The healthy Hub pull, then one redirect + CDN download per (size, transfer ms, cache headers);
    every download starts as its redirect answers, as dockerd's parallel downloads do."""
    r = healthy_hub_pull()
    start = r.now
    for n, (size, transfer_ms, headers) in enumerate(layers, 1):
        digest = "sha256:" + f"{n}" * 64
        redirect = r.add(StepKind.BLOB_REDIRECT, "GET", f"https://{HUB}/v2/library/tiny/blobs/{digest}", 307,
                         at=start, reference=digest)
        cdn = r.add(StepKind.CDN_DOWNLOAD, "GET", f"https://{CDN}/blobs/{n}/data", 200, response_headers=headers,
                    response_bytes=size, links=[Link("follows", redirect.id)], reference=digest, at=start + 0.05)
        for step in (redirect, cdn):
            step.role = f"layer {n}/{len(layers)}"
        cdn.exchange.timings = Timings(connect_ms=2.0, tls_ms=5.0, send_ms=0.2, wait_ms=10.0, receive_ms=transfer_ms)
        cdn.exchange.duration_ms = 17.2 + transfer_ms
    return r.session()


def rules(session: Session) -> list[str]:
    return [f.rule for f in diagnose(session) if f.rule.startswith("speed.")]


def test_a_layer_ten_times_slower_than_its_peers_is_named_with_host_cache_and_numbers():
    session = pull_with_layers([(20 * MiB, 400.0, []), (20 * MiB, 500.0, []),
                                (20 * MiB, 5000.0, [("X-Cache", "Miss from cloudfront")])])
    (f,) = slow_layer(session)
    assert (f.rule, f.severity) == ("speed.slow-layer", Severity.WARNING)
    # Named by its number and the short id docker prints beside it; the cache's verdict in the title.
    assert f.title == "layer 3/3 (333333333333) came 11× slower than the other layers, from cdn.pulltrace.test " \
                      "(cache MISS)"
    assert f.cause == (
        f"layer 3/3 ({'sha256:' + '3' * 64}, 20.0 MiB) arrived at 4.0 MiB/s from cdn.pulltrace.test after a redirect "
        "from hub.pulltrace.test, in 5.07 s of the pull's 5.47 s; the pull's other layers of 1.0 MiB or more came at a "
        "median 45.0 MiB/s. cdn.pulltrace.test cache said x-cache: Miss from cloudfront.")
    redirect, cdn = [s for s in session.steps if s.role == "layer 3/3"]
    assert f.steps == [redirect.id, cdn.id]


def test_the_miss_that_took_most_of_the_pull_is_info():
    session = pull_with_layers([(20 * MiB, 400.0, [("CF-Cache-Status", "HIT")]),
                                (20 * MiB, 500.0, [("CF-Cache-Status", "HIT")]),
                                (20 * MiB, 5000.0, [("CF-Cache-Status", "MISS"), ("CF-Ray", "8a1b2c3d4e5f6a7b-FRA")])])
    assert rules(session) == ["speed.slow-layer", "speed.cache-miss"]
    (f,) = costly_miss(session)
    assert f.severity == Severity.INFO
    assert f.title == "layer 3/3 (333333333333) missed the cache on cdn.pulltrace.test and took 93% of the pull"
    assert f.cause == (
        f"layer 3/3 ({'sha256:' + '3' * 64}, 20.0 MiB) took 5.07 s of the pull's 5.47 s from its first request to "
        "its last byte, arriving at 4.0 MiB/s; cdn.pulltrace.test (edge FRA) cache said cf-cache-status: MISS, so it "
        "fetched the blob from its origin before sending it.")
    assert f.steps == [s.id for s in session.steps if s.role == "layer 3/3"]


def test_a_miss_on_a_layer_that_was_not_the_bottleneck_says_nothing():
    session = pull_with_layers([(20 * MiB, 400.0, [("CF-Cache-Status", "MISS")]),
                                (20 * MiB, 3000.0, [("CF-Cache-Status", "HIT")])])
    assert rules(session) == []


def test_even_layers_and_tiny_blobs_are_not_slow():
    even = pull_with_layers([(20 * MiB, 400.0, []), (20 * MiB, 450.0, []), (20 * MiB, 520.0, [])])
    assert rules(even) == []
    # 600 KiB in 3 s next to 600 KiB in 30 ms: all handshake, below the size that counts.
    tiny = pull_with_layers([(600 * 1024, 30.0, []), (600 * 1024, 30.0, []),
                             (600 * 1024, 3000.0, [("X-Cache", "MISS")])])
    assert rules(tiny) == []


def test_two_layers_are_too_few_to_call_one_slow():
    assert slow_layer(pull_with_layers([(20 * MiB, 400.0, []), (20 * MiB, 8000.0, [])])) == []


@pytest.mark.parametrize("path", sorted(SAMPLES.rglob("*.json")), ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_no_sample_shows_a_slow_layer(path):
    # Every sample is a healthy pull or fails for a reason other than speed; its layers are
    # small, so rebuilding it through the whole pipeline finds nothing about speed.
    saved = load_trace(path)
    exchanges = sorted((st.exchange for s in saved.sessions for st in s.steps), key=lambda e: e.started_at)
    again = build_trace(exchanges, saved.source)
    assert [f.rule for s in again.sessions for f in s.findings if f.rule.startswith("speed.")] == []


def test_a_crawling_layer_is_given_in_kib_per_second():
    session = pull_with_layers([(20 * MiB, 400.0, []), (20 * MiB, 500.0, []), (20 * MiB, 40_000.0, [])])
    (f,) = slow_layer(session)
    assert f.title == "layer 3/3 (333333333333) came 90× slower than the other layers, from cdn.pulltrace.test"
    assert "arrived at 512.0 KiB/s from cdn.pulltrace.test" in f.cause
    assert f.cause.endswith("cdn.pulltrace.test sent no cache headers.")


def test_a_lab_capture_with_one_slow_cdn_layer_is_diagnosed_through_the_whole_pipeline():
    # docker pull gcr.pulltrace.test/…three: three layers redirected to cdn.pulltrace.test. Recorded
    # as if layers were 30 MiB and layer 2 crawled behind a rate limit (nginx limit_rate), with a MISS.
    saved = load_trace(SAMPLES / "lab" / "docker-gcr-three.json")
    exchanges = sorted((st.exchange for s in saved.sessions for st in s.steps), key=lambda e: e.started_at)
    slow_digest = None
    for step in (st for s in saved.sessions for st in s.steps if st.kind is StepKind.CDN_DOWNLOAD):
        if step.role == "config":
            continue
        slow = step.role == "layer 2/3"
        ex = step.exchange
        ex.response_bytes = 30 * MiB
        ex.timings.receive_ms = 12_000.0 if slow else 300.0
        ex.duration_ms = (ex.timings.wait_ms or 0.0) + ex.timings.receive_ms
        if slow:
            ex.response_headers.append(("X-Cache", "Miss from cloudfront"))
            slow_digest = step.reference
    trace = build_trace(exchanges, saved.source)
    (session,) = [s for s in trace.sessions if s.action == "pull"]
    speed = [f for f in session.findings if f.rule.startswith("speed.")]
    assert [(f.rule, f.severity) for f in speed] == [("speed.slow-layer", Severity.WARNING),
                                                     ("speed.cache-miss", Severity.INFO)]
    assert speed[0].title == (f"layer 2/3 ({slow_digest.split(':')[1][:12]}) came 40× slower than the other layers, "
                              "from cdn.pulltrace.test (cache MISS)")
    steps = {s.id: s for s in session.steps}
    assert [steps[i].kind.value for i in speed[0].steps] == ["blob-redirect", "cdn-download"]
    assert {steps[i].reference for i in speed[0].steps} == {slow_digest}


def test_slow_is_relative_to_the_pull_not_a_fixed_number_of_seconds():
    # 800 ms where its peers took 60 ms is most of a one-second pull: named, though under a second.
    (f,) = slow_layer(pull_with_layers([(20 * MiB, 60.0, []), (20 * MiB, 70.0, []), (20 * MiB, 800.0, [])]))
    assert f.title == "layer 3/3 (333333333333) came 12× slower than the other layers, from cdn.pulltrace.test"
    # Ten times slower too, but the 55 ms it lost are a sliver of the pull: not why it was slow.
    assert slow_layer(pull_with_layers([(2 * MiB, 4.0, []), (2 * MiB, 5.0, []), (2 * MiB, 60.0, [])])) == []


def test_a_pull_of_one_tiny_layer_that_missed_says_nothing():
    assert rules(pull_with_layers([(600 * 1024, 3000.0, [("X-Cache", "MISS")])])) == []


SPEED_DATA = Path(__file__).resolve().parents[2] / "data" / "speed"


def rebuilt(name: str) -> Session:
    """A recorded lab pull read back through the whole pipeline, so today's rules judge it."""
    saved = load_trace(SPEED_DATA / name)
    exchanges = sorted((st.exchange for s in saved.sessions for st in s.steps), key=lambda e: e.started_at)
    (session,) = [s for s in build_trace(exchanges, saved.source).sessions if s.action == "pull"]
    return session


def test_a_real_cold_docker_pull_names_the_throttled_layer_its_edge_and_the_miss():
    # docker pull slow.pulltrace.test/library/slow through mitmdump, the edge's cache purged first:
    # layer 2/3 came from edge. at throttle.'s 400 KiB/s while its peers took a few hundred ms.
    session = rebuilt("docker-slow-cold.json")
    speed = [f for f in session.findings if f.rule.startswith("speed.")]
    digest = "sha256:69db334cdc5e5298ee94f47d4ceab73e05ab122bf8d41f14e42bb06cd01f28e6"
    assert [(f.rule, f.title) for f in speed] == [
        ("speed.slow-layer", "layer 2/3 (69db334cdc5e) came 57× slower than the other layers, from edge.pulltrace.test "
                             "(cache MISS)"),
        ("speed.cache-miss", "layer 2/3 (69db334cdc5e) missed the cache on edge.pulltrace.test and took 82% of the "
                             "pull"),
    ]
    assert speed[0].cause.startswith(f"layer 2/3 ({digest}, 1.3 MiB) arrived at ")
    assert speed[0].cause.endswith("edge.pulltrace.test cache said x-cache: MISS.")
    assert "edge.pulltrace.test (edge cache-lab-edge1) cache said x-cache: MISS" in speed[1].cause


def test_a_real_warm_docker_pull_hits_every_layer_and_finds_nothing():
    session = rebuilt("docker-slow-warm.json")
    assert rules(session) == []


def _cdn_step(session: Session):
    return next(s for s in session.steps if s.kind is StepKind.CDN_DOWNLOAD)


def test_a_connection_opened_slowly_before_its_request_is_named_though_no_step_shows_it():
    # mitmproxy's eager strategy opens the upstream connection when the client's CONNECT arrives:
    # the 1.3 s lie before the CDN request, so its own duration (17 ms) says nothing of them.
    session = pull_with_layers([(2 * MiB, 40.0, [])])
    cdn = _cdn_step(session)
    cdn.exchange.timings = Timings(send_ms=0.2, wait_ms=10.0, receive_ms=5.0, early_connect_ms=1250.0,
                                   early_tls_ms=40.0)
    (f,) = [f for f in diagnose(session) if f.rule == "speed.slow-connect"]
    assert f.severity == Severity.WARNING
    assert f.title == "Opening a connection to cdn.pulltrace.test took 1.29 s"
    assert "before the request it carried" in f.cause and "TCP connect took 1.25 s of it (TLS 40 ms)" in f.cause
    assert "lost SYN" in f.cause and "curl" in f.fix and "cdn.pulltrace.test" in f.fix
    assert f.steps == [cdn.id]


def test_a_slow_tls_handshake_inside_the_request_is_told_apart_from_a_slow_tcp_connect():
    session = pull_with_layers([(2 * MiB, 40.0, [])])
    cdn = _cdn_step(session)
    cdn.exchange.timings = Timings(connect_ms=3.0, tls_ms=1400.0, send_ms=0.2, wait_ms=10.0, receive_ms=5.0)
    cdn.exchange.duration_ms = 1418.2
    (f,) = [f for f in diagnose(session) if f.rule == "speed.slow-connect"]
    assert "the TLS handshake took 1.40 s of it (TCP 3 ms)" in f.cause
    assert "before the request" not in f.cause


def test_a_connection_a_little_slow_or_a_small_share_of_a_long_pull_says_nothing():
    quick = pull_with_layers([(2 * MiB, 40.0, [])])
    _cdn_step(quick).exchange.timings = Timings(early_connect_ms=900.0, early_tls_ms=50.0, wait_ms=10.0)
    assert "speed.slow-connect" not in rules(quick)
    # 1.2 s to connect, then 60 s of download: not why this pull was slow.
    long = pull_with_layers([(600 * MiB, 60_000.0, [])])
    cdn = _cdn_step(long)
    cdn.exchange.timings = Timings(connect_ms=1200.0, tls_ms=10.0, wait_ms=10.0, receive_ms=60_000.0)
    cdn.exchange.duration_ms = 61_220.0
    assert "speed.slow-connect" not in rules(long)

