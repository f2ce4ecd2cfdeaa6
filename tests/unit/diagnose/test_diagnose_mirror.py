"""Mirror rules on recorded pulls: dockerd leaving a broken registry mirror for the upstream."""

from __future__ import annotations

from diagnose_recorded import HUB, MANIFEST, MANIFEST_TYPE, Recorder, healthy_hub_pull, sha

from pulltrace.diagnose import diagnose
from pulltrace.model import Severity, StepKind

MIRROR = "mirror.pulltrace.test"


def with_failed_mirror(status: int | None, **kw) -> Recorder:
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{MIRROR}/v2/", 200)
    r.add(StepKind.ERROR, "GET", f"https://{MIRROR}/v2/library/tiny/manifests/latest", status, **kw)
    hub = healthy_hub_pull()
    for step in hub.steps:
        r.add(step.kind, step.exchange.method, step.exchange.url, step.exchange.status,
              request_headers=step.exchange.request_headers[1:], response_headers=[
                  h for h in step.exchange.response_headers if h[0] != "Date"],
              body=step.exchange.response_body_preview, body_sha256=step.exchange.body_sha256,
              response_bytes=step.exchange.response_bytes, links=step.links, facts=step.facts)
    return r


def test_mirror_502_then_upstream():
    r = with_failed_mirror(502, body='{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}',
                           response_headers=[("Docker-Distribution-Api-Version", "registry/2.0")])
    findings = diagnose(r.session(mirror=MIRROR, fallback=HUB))
    assert [(f.rule, f.severity) for f in findings] == [("mirror.fallback", Severity.WARNING)]
    assert MIRROR in findings[0].title and HUB in findings[0].title
    assert findings[0].steps == ["e2", "e5"]


def test_unreachable_mirror_then_upstream():
    r = with_failed_mirror(None, error="[Errno 111] Connection refused")
    rules = [f.rule for f in diagnose(r.session())]
    assert "mirror.fallback" in rules
    assert all(f.severity != Severity.ERROR for f in diagnose(r.session()))


def test_mirror_that_answers_is_quiet():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{MIRROR}/v2/", 200)
    r.add(StepKind.MANIFEST, "GET", f"https://{MIRROR}/v2/library/tiny/manifests/latest", 200,
          response_headers=[("Content-Type", MANIFEST_TYPE)], body=MANIFEST, body_sha256=sha(MANIFEST))
    assert diagnose(r.session(registry=MIRROR)) == []
