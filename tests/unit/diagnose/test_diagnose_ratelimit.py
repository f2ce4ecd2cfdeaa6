"""Rate-limit rules on recorded pulls (Docker Hub's headers: `100;w=21600`)."""

from __future__ import annotations

from diagnose_recorded import HUB, healthy_hub_pull, step_by_kind

from pulltrace.diagnose import diagnose
from pulltrace.diagnose.ratelimit import quota
from pulltrace.model import Exchange, Severity, StepKind

TOOMANY = ('{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit. '
           'You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}')


def test_quota_parses_docker_hub_headers():
    ex = Exchange(id="x", method="GET", url="https://h/v2/", started_at=0, response_headers=[
        ("RateLimit-Limit", "100;w=21600"),
        ("RateLimit-Remaining", "76;w=21600"),
        ("Docker-RateLimit-Source", "192.0.2.7"),
    ])
    q = quota(ex)
    assert (q.limit, q.remaining, q.window_s, q.source) == (100, 76, 21600, "192.0.2.7")
    assert q.text() == "76 of 100 pulls left per 6 h counted for 192.0.2.7"


def test_429_too_many_requests():
    r = healthy_hub_pull()
    index = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    r.steps = r.steps[: index.index]
    r.add(StepKind.ERROR, "GET", index.exchange.url, 429, request_headers=index.exchange.request_headers,
          response_headers=[("RateLimit-Limit", "100;w=21600"), ("RateLimit-Remaining", "0;w=21600"),
                            ("Retry-After", "3600")], body=TOOMANY)
    findings = diagnose(r.session())
    f = findings[0]
    assert (f.rule, f.severity) == ("ratelimit.exceeded", Severity.ERROR)
    assert "0 of 100 pulls left per 6 h" in f.cause and "3600 s" in f.cause
    assert f"docker login {HUB}" in f.fix
    assert "pull.failed" not in [x.rule for x in findings]


def test_ratelimit_headers_are_reported_as_info():
    r = healthy_hub_pull()
    index = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    index.exchange.response_headers += [("ratelimit-limit", "100;w=21600"), ("ratelimit-remaining", "76;w=21600")]
    findings = diagnose(r.session())
    assert [(f.rule, f.severity) for f in findings] == [("ratelimit.quota", Severity.INFO)]
    assert "76 of 100 pulls left per 6 h" in findings[0].title


def test_nearly_spent_quota_is_a_warning():
    r = healthy_hub_pull()
    index = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    index.exchange.response_headers += [("RateLimit-Limit", "100;w=21600"), ("RateLimit-Remaining", "3;w=21600")]
    assert [(f.rule, f.severity) for f in diagnose(r.session())] == [("ratelimit.quota", Severity.WARNING)]
