"""Speed rules on recorded pulls: a layer far slower than its peers, a cache miss that cost most
of the pull, and silence on every sample in samples/ (none of them shows a slow layer)."""

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
        digest = f"sha256:{n:064x}"
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
    assert f.title == "layer 3/3 came 11× slower than the other layers, from cdn.pulltrace.test"
    assert f.cause == (
        "layer 3/3 (20.0 MiB) arrived at 4.0 MiB/s from cdn.pulltrace.test after a redirect from hub.pulltrace.test, "
        "in 5.07 s; the pull's other layers of 1.0 MiB or more came at a median 45.0 MiB/s. "
        "cdn.pulltrace.test cache said x-cache: Miss from cloudfront.")
    redirect, cdn = [s for s in session.steps if s.role == "layer 3/3"]
    assert f.steps == [redirect.id, cdn.id]


def test_the_miss_that_took_most_of_the_pull_is_info():
    session = pull_with_layers([(20 * MiB, 400.0, [("CF-Cache-Status", "HIT")]),
                                (20 * MiB, 500.0, [("CF-Cache-Status", "HIT")]),
                                (20 * MiB, 5000.0, [("CF-Cache-Status", "MISS"), ("CF-Ray", "8a1b2c3d4e5f6a7b-FRA")])])
    assert rules(session) == ["speed.slow-layer", "speed.cache-miss"]
    (f,) = costly_miss(session)
    assert f.severity == Severity.INFO
    assert f.title == "layer 3/3 missed the cache on cdn.pulltrace.test and took 93% of the pull"
    assert f.cause == (
        "layer 3/3 (20.0 MiB) took 5.07 s of the pull's 5.47 s at 4.0 MiB/s; cdn.pulltrace.test (edge FRA) "
        "cache said cf-cache-status: MISS, so it fetched the blob from its origin before sending it.")
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
    assert f.title == "layer 3/3 came 90× slower than the other layers, from cdn.pulltrace.test"
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
    assert speed[0].title == "layer 2/3 came 40× slower than the other layers, from cdn.pulltrace.test"
    steps = {s.id: s for s in session.steps}
    assert [steps[i].kind.value for i in speed[0].steps] == ["blob-redirect", "cdn-download"]
    assert {steps[i].reference for i in speed[0].steps} == {slow_digest}
