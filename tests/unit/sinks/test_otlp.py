"""OTLP export of finished pulls through the SDK's real OTLP/HTTP exporter, decoded by a receiver.

The receiver (devtools/otlp_receiver.py) decodes the protobuf with opentelemetry-proto, as
a collector would; no collector is installable here.
"""

import logging
import re
import socket
from pathlib import Path

import pytest

from devtools.otlp_receiver import OtlpReceiver
from pulltrace.model import Exchange, Finding, Session, Severity, Step, StepKind, load_trace
from pulltrace.sinks.otlp import PullTracer, traces_endpoint

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "lab"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
SECRETS = [JWT, "c2lnbmF0dXJlLXNpZ25hdHVyZQ", "d41d8cd98f00b204e9800998ecf8427e", "hunter2pass"]


def _tracer(url: str, **kw) -> PullTracer:
    return PullTracer(url, node="fleet-a", version="9.9", schedule_delay_ms=50, **kw)


def _all_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _all_strings(v)] + list(value)
    if isinstance(value, list | tuple):
        return [s for v in value for s in _all_strings(v)]
    return []


def _leaky_session() -> Session:
    """A pull recorded with pulltrace_show_secrets: the export must mask it anyway."""
    def ex(i: str, t: float, url: str, status: int | None, **kw) -> Exchange:
        return Exchange(id=i, method="GET", url=url, started_at=t, status=status, duration_ms=100.0,
                        client="10.0.0.9:4000", secrets_masked=False, **kw)
    steps = [
        Step(ex("t", 100.0, f"https://auth.test/token?scope=repository:a:pull&access_token={JWT}", 200,
                response_body_preview=f'{{"token":"{JWT}","expires_in":300}}'), kind=StepKind.TOKEN, index=1),
        Step(ex("m", 100.2, "https://reg.test/v2/a/manifests/latest", 200), kind=StepKind.MANIFEST, index=2,
             repository="a", reference="latest"),
        Step(ex("b", 100.4, "https://cdn.test/blobs/x?X-Amz-Signature=d41d8cd98f00b204e9800998ecf8427e&Expires=9",
                None, error=f"connect: Bearer {JWT} refused"), kind=StepKind.CDN_DOWNLOAD, index=3),
    ]
    session = Session(id="s7", client="docker (10.0.0.9)", steps=steps, findings=[
        Finding(rule="blob.cdn-failed", severity=Severity.ERROR, title="The CDN refused the blob",
                cause=f"https://auth.test/token?password=hunter2pass sent with Authorization: Bearer {JWT}",
                fix="Check the CDN", steps=["b"])])
    session.summary.image = "reg.test/a:latest"
    session.summary.registry = "reg.test"
    return session


def test_one_trace_per_pull_with_a_child_span_per_step():
    sessions = load_trace(SAMPLES / "docker-tiny-plus-after-tiny.json").sessions
    with OtlpReceiver() as receiver:
        tracer = _tracer(receiver.url)
        for s in sessions:
            tracer.export(s)
        tracer.close()
        traces = receiver.received.traces()
    assert len(traces) == 2
    in_order = sorted(traces.values(), key=lambda sp: min(x.start_ns for x in sp))
    for session, spans in zip(sessions, in_order, strict=True):
        (root,) = [s for s in spans if not s.parent_id]
        children = [s for s in spans if s.parent_id]
        assert all(c.parent_id == root.span_id for c in children)
        assert len(children) == len(session.steps)
        assert root.name == f"pull {session.summary.image}"
        assert root.attributes["pulltrace.session.id"] == session.id
        assert root.attributes["pulltrace.result"] == "ok"
        assert root.resource["host.name"] == root.resource["pulltrace.node"] == "fleet-a"
        assert root.resource["service.name"] == "pulltrace"
        by_id = {c.attributes["pulltrace.step.id"]: c for c in children}
        for step in session.steps:
            span, ex = by_id[step.id], step.exchange
            assert span.start_ns == round(ex.started_at * 1e9)
            assert span.end_ns == round((ex.started_at + ex.duration_ms / 1000) * 1e9)
            assert span.kind == 3  # SPAN_KIND_CLIENT
            assert span.name == f"{ex.method} {step.kind}"
            assert span.attributes["http.request.method"] == ex.method
            assert span.attributes["http.response.status_code"] == ex.status
            assert span.attributes["url.full"] == ex.url
            assert span.attributes["server.address"] == re.match(r"https://([^/:]+)", ex.url).group(1)
            assert span.attributes["pulltrace.step.kind"] == str(step.kind)
        assert root.start_ns == min(c.start_ns for c in children)
        assert root.end_ns == max(c.end_ns for c in children)
    # Each layer download names its digest and its place in the manifest: tiny's one layer,
    # then tiny-plus's second (its first, shared with tiny, was already there).
    layers = [[(c.attributes["pulltrace.layer.index"], c.attributes["pulltrace.digest"][:7])
               for c in spans if "pulltrace.layer.index" in c.attributes and c.attributes["pulltrace.step.kind"]
               == "cdn-download"] for spans in sorted(traces.values(), key=lambda sp: min(x.start_ns for x in sp))]
    assert layers == [[(0, "sha256:")], [(1, "sha256:")]]


def test_findings_are_span_events_and_no_secret_leaves():
    with OtlpReceiver() as receiver:
        tracer = _tracer(receiver.url)
        tracer.export(_leaky_session())
        tracer.close()
        (spans,) = receiver.received.traces().values()
    (root,) = [s for s in spans if not s.parent_id]
    assert [name for name, _ in root.events] == ["blob.cdn-failed"]
    assert root.events[0][1]["pulltrace.finding.severity"] == "error"
    assert root.events[0][1]["pulltrace.finding.steps"] == ["b"]
    assert root.status_code == 2  # STATUS_CODE_ERROR: the pull failed
    cdn = next(s for s in spans if s.attributes.get("pulltrace.step.id") == "b")
    assert [name for name, _ in cdn.events] == ["blob.cdn-failed"]
    assert cdn.attributes["error.type"] == "connect"
    assert cdn.attributes["url.full"] == "https://cdn.test/blobs/x?X-Amz-Signature=…&Expires=…"
    strings = [s for span in spans for s in _all_strings([span.name, span.attributes, span.events, span.resource])]
    assert not [s for s in strings for secret in SECRETS if secret in s]
    assert any(s.startswith("eyJhbGci…") or "Bearer eyJhbGci…" in s for s in strings)  # masked, still recognisable


def test_a_resend_counts_earlier_identical_requests():
    steps = [Step(Exchange(id=str(i), method="HEAD", url="https://reg.test/v2/a/manifests/x", started_at=float(i),
                           status=401 if i == 0 else 200, duration_ms=1.0), kind=StepKind.MANIFEST_HEAD, index=i)
             for i in range(2)]
    with OtlpReceiver() as receiver:
        tracer = _tracer(receiver.url)
        tracer.export(Session(id="s1", steps=steps))
        tracer.close()
        (spans,) = receiver.received.traces().values()
    counts = {s.attributes["pulltrace.step.id"]: s.attributes.get("http.request.resend_count")
              for s in spans if s.parent_id}
    assert counts == {"0": None, "1": 1}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_endpoint_that_is_down_is_one_warning(caplog):
    session = load_trace(SAMPLES / "docker-hub-multi.json").sessions[0]
    tracer = _tracer(f"http://127.0.0.1:{_closed_port()}", timeout_s=1.0)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            tracer.export(session)
            tracer.provider.force_flush(5000)
        tracer.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"pulltrace: cannot send traces to {tracer.endpoint}")
    assert tracer.exporter.failing and tracer.exporter.failures >= 3  # every flush failed, one warning said so


def test_an_endpoint_that_never_answers_does_not_hold_the_caller():
    """export() only queues: this returns although the endpoint accepts and never replies."""
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    try:
        tracer = _tracer(f"http://127.0.0.1:{hang.getsockname()[1]}", timeout_s=1.0)
        session = load_trace(SAMPLES / "docker-hub-multi.json").sessions[0]
        for _ in range(200):
            tracer.export(session)
        tracer.close()
    finally:
        hang.close()


@pytest.mark.parametrize(("url", "endpoint"), [
    ("http://c:4318", "http://c:4318/v1/traces"),
    ("http://c:4318/", "http://c:4318/v1/traces"),
    ("https://c/otlp/v1/traces", "https://c/otlp/v1/traces"),
])
def test_traces_endpoint(url, endpoint):
    assert traces_endpoint(url) == endpoint


@pytest.mark.parametrize("url", ["c:4318", "ftp://c/", "http://"])
def test_traces_endpoint_refuses(url):
    with pytest.raises(ValueError):
        traces_endpoint(url)
