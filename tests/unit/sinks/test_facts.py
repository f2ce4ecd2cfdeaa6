"""The readings every fleet view shares: result, status class, rate limits, token lifetimes, layers."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulltrace.model import Exchange, Session, Step, StepKind, load_trace
from pulltrace.sinks import facts

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "lab"


def _session(name: str, n: int = 0) -> Session:
    return load_trace(SAMPLES / f"{name}.json").sessions[n]


@pytest.mark.parametrize(("name", "result"), [
    ("docker-hub-multi", "ok"),
    ("docker-mirror-tiny", "ok"),
    ("doctor-alice-denied", "failed"),   # auth.insufficient-scope, an error finding
    ("pulltrace-pull-loop", "failed"),   # blob.redirect-loop
])
def test_pull_result_follows_error_findings(name, result):
    assert facts.pull_result(_session(name)) == result


def test_a_pull_without_an_answered_manifest_failed():
    ex = Exchange(id="m", method="GET", url="https://r.test/v2/a/manifests/latest", started_at=1.0, status=404)
    assert facts.pull_result(Session(id="s1", steps=[Step(ex, kind=StepKind.ERROR)])) == "failed"


@pytest.mark.parametrize(("status", "cls"), [
    (200, "2xx"), (307, "3xx"), (401, "401"), (403, "403"), (404, "404"), (429, "429"),
    (400, "4xx"), (500, "5xx"), (503, "5xx"), (None, "none"),
])
def test_status_class(status, cls):
    assert facts.status_class(status) == cls


@pytest.mark.parametrize(("value", "parsed"), [
    ("76;w=21600", (76, 21600)),      # Docker Hub
    ("100", (100, None)),
    (" 0 ; w=60 ", (0, 60)),
    ("5;burst=10;w=3600", (5, 3600)),
    ("", None), ("many", None), ("-1", None), (None, None),
])
def test_parse_rate(value, parsed):
    assert facts.parse_rate(value) == parsed


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_parse_rate_is_total(value):
    parsed = facts.parse_rate(value)
    assert parsed is None or (parsed[0] >= 0 and (parsed[1] is None or parsed[1] >= 0))


def test_rate_limits_keep_each_hosts_last_reading():
    def ex(i: str, t: float, remaining: str) -> Step:
        return Step(Exchange(id=i, method="GET", url="https://quota.pulltrace.test/v2/a/manifests/x",
                             started_at=t, status=200, response_headers=[
                                 ("RateLimit-Limit", "100;w=21600"), ("RateLimit-Remaining", remaining)]))
    session = Session(id="s1", steps=[ex("a", 2.0, "75;w=21600"), ex("b", 1.0, "76;w=21600")])
    (reading,) = facts.rate_limits(session)
    assert (reading.host, reading.remaining, reading.limit, reading.window_s) == ("quota.pulltrace.test", 75, 100,
                                                                                 21600)


def _token(body: str, status: int = 200, claims=None) -> Step:
    return Step(Exchange(id="t", method="GET", url="https://auth.test/token", started_at=1.0, status=status,
                         response_body_preview=body, token_claims=claims), kind=StepKind.TOKEN)


def test_token_lifetime_from_expires_in_then_claims_then_the_specs_default():
    assert facts.token_lifetime(_token('{"token":"eyJhbGci…","expires_in":300}')) == 300.0
    assert facts.token_lifetime(_token('{"token":"eyJhbGci…"}', claims={"iat": 100, "exp": 1000})) == 900.0
    assert facts.token_lifetime(_token('{"access_token":"eyJhbGci…"}')) == 60.0
    assert facts.token_lifetime(_token('{"errors":[]}', status=401)) is None
    assert facts.token_lifetime(_token('{"details":"no token"}')) is None


def test_layer_positions_from_the_image_manifest():
    session = _session("docker-gcr-three")
    positions = facts.layer_positions(session)
    assert sorted(positions.values()) == [0, 1, 2]
    assert all(d.startswith("sha256:") for d in positions)


def test_serving_host_drops_userinfo_keeps_port():
    ex = Exchange(id="x", method="GET", url="https://u:p@Plain.pulltrace.test:5000/v2/", started_at=0.0)
    assert facts.serving_host(ex) == "plain.pulltrace.test:5000"
    assert facts.host_and_port(ex) == ("plain.pulltrace.test", 5000)
