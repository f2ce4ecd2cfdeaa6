"""The final pass: every string of a trace is masked, whatever its flags claim."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from pulltrace.commands.load import load_trace
from pulltrace.model import Exchange, Finding, Session, SessionSummary, Severity, Step, StepFacts, StepKind, Trace
from pulltrace.redact import mask_exchange, mask_trace, mask_value
from pulltrace.redact.walk import TOO_DEEP
from pulltrace.render.outputs import render

TOKEN = jwt.encode({"sub": "alice", "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}]},
                   "k" * 32, algorithm="HS256")
SIGNED = "https://cdn.test/blobs/data?Expires=1700000000&Signature=s1gn4tur3&Key-Pair-Id=APKAXYZ"


def _trace() -> Trace:
    token = Exchange(id="2", method="GET", url="https://auth.test/token?scope=repository%3Ateam%2Fapp%3Apull",
                     started_at=1.0, status=200,
                     request_headers=[("Authorization", "Basic YWxpY2U6YWxpY2UtcGFzcw==")],
                     response_body_preview=f'{{"token":"{TOKEN}","expires_in":300}}',
                     secrets_masked=True)  # a lie: nothing in it is masked
    redirect = Exchange(id="3", method="GET", url="https://r.test/v2/team/app/blobs/sha256:" + "a" * 64,
                        started_at=2.0, status=307, request_headers=[("Authorization", f"Bearer {TOKEN}")],
                        response_headers=[("Location", SIGNED), ("X-Docker-Token", "signature=abc123,access=read")])
    steps = [Step(exchange=token, kind=StepKind.TOKEN, facts=StepFacts(claims={"sub": "alice", "token": TOKEN})),
             Step(exchange=redirect, kind=StepKind.BLOB_REDIRECT, facts=StepFacts(location=SIGNED))]
    summary = SessionSummary(image="r.test/team/app", auth="bearer-credentials",
                             scopes_granted=["repository:team/app:pull"],
                             errors=[f"GET {SIGNED} failed: 403 for Bearer {TOKEN}"])
    finding = Finding(rule="expired-url", severity=Severity.ERROR, title="Signed URL expired",
                      cause=f"The CDN refused {SIGNED}", fix="Pull again", steps=["3"])
    return Trace(sessions=[Session(id="s1", steps=steps, summary=summary, findings=[finding])],
                 notes=[f"captured with https://alice:alice-pass@r.test/ and {TOKEN}"])


def test_every_string_of_a_trace_is_masked_whatever_its_flags_claim():
    trace = _trace()
    masked = mask_trace(trace)
    (session,) = masked.sessions
    token, redirect = session.steps
    assert token.exchange.request_headers == [("Authorization", "Basic YWxp…")]
    assert token.exchange.response_body_preview == '{"token":"eyJhbGci…","expires_in":300}'
    assert token.facts.claims == {"sub": "alice", "token": "eyJhbGci…"}
    signed = "https://cdn.test/blobs/data?Expires=…&Signature=…&Key-Pair-Id=…"
    assert redirect.facts.location == signed
    assert redirect.exchange.response_headers == [("Location", signed), ("X-Docker-Token", "sign…")]
    assert redirect.exchange.request_headers == [("Authorization", "Bearer eyJhbGci…")]
    assert session.summary.errors == [f"GET {signed} failed: 403 for Bearer eyJhbGci…"]
    assert session.findings[0].cause == f"The CDN refused {signed}"
    assert masked.notes == ["captured with https://alice:…@r.test/ and eyJhbGci…"]
    # What a reader needs stays: kinds, scopes, the auth kind, the image, the claims.
    assert token.kind is StepKind.TOKEN
    assert session.summary.auth == "bearer-credentials"
    assert session.summary.scopes_granted == ["repository:team/app:pull"]
    assert token.exchange.token_claims == jwt.decode(TOKEN, options={"verify_signature": False})
    assert token.exchange.secrets_masked is True and redirect.exchange.secrets_masked is True
    # A deep copy: the trace given is untouched.
    assert trace.sessions[0].steps[0].facts.claims == {"sub": "alice", "token": TOKEN}
    assert trace.notes[0].endswith(TOKEN)
    assert mask_trace(masked) == masked


def test_fields_the_walk_has_never_heard_of_are_masked_too():
    @dataclass
    class FutureFacts:
        location: str
        retried: list[tuple[str, str]] = field(default_factory=list)
        extra: dict[str, Any] = field(default_factory=dict)

    @dataclass
    class FutureStep(Step):
        facts: FutureFacts | None = None

    ex = Exchange(id="1", method="GET", url="https://r.test/v2/", started_at=0.0)
    step = FutureStep(exchange=ex, facts=FutureFacts(location=SIGNED, retried=[("X-Api-Key", "k3y-value")],
                                                     extra={"refreshToken": "r3fr3sh", "n": (1, f"Bearer {TOKEN}")}))
    masked = mask_value(step)
    assert isinstance(masked, FutureStep) and masked.facts is not None
    assert masked.facts.location == "https://cdn.test/blobs/data?Expires=…&Signature=…&Key-Pair-Id=…"
    assert masked.facts.retried == [("X-Api-Key", "k3y…")]
    assert masked.facts.extra == {"refreshToken": "r3…", "n": (1, "Bearer eyJhbGci…")}


def test_a_structure_nested_deeper_than_any_model_is_cut_not_overflowed():
    deep: dict[str, Any] = {"token": TOKEN}
    for _ in range(2000):
        deep = {"a": deep}
    masked = mask_value(deep)
    node = masked
    for _ in range(64):
        node = node["a"]
    assert TOKEN not in repr(masked) and TOO_DEEP in repr(node)


def test_mask_exchange_marks_it_masked_and_keeps_claims():
    ex = Exchange(id="1", method="GET", url="https://auth.test/token", started_at=0.0, status=200,
                  response_body_preview=f'{{"accessToken":"{TOKEN}"}}', secrets_masked=False)
    masked = mask_exchange(ex)
    assert masked.secrets_masked is True
    assert masked.response_body_preview == '{"accessToken":"eyJhbGci…"}'
    assert masked.token_claims is not None and masked.token_claims["sub"] == "alice"


def test_the_final_pass_keeps_an_exchange_masked_on_arrival_and_walks_one_changed_since():
    # A capture masks each exchange as it arrives; the final pass over the finished pull must
    # not walk those again (it was a tenth of the worker's time), but must not trust them blindly.
    raw = Exchange(id="1", method="GET", url="https://r.test/v2/team/app/manifests/1", started_at=0.0, status=200,
                   request_headers=[("Authorization", f"Bearer {TOKEN}")], secrets_masked=False)
    arrived = mask_exchange(raw)
    session = Session(id="s1", steps=[Step(exchange=arrived, kind=StepKind.MANIFEST)])
    assert mask_value(session).steps[0].exchange is arrived
    arrived.url = SIGNED  # assigned since it was masked: walked again
    again = mask_value(session).steps[0].exchange
    assert again is not arrived and "s1gn4tur3" not in again.url and "Signature=…" in again.url
    arrived.url = "https://r.test/v2/team/app/manifests/1"
    session.steps[0].exchange = mask_exchange(arrived)
    session.steps[0].exchange.response_headers.append(("Set-Cookie", "session=abcdef0123456789"))  # added in place
    assert "abcdef0123456789" not in repr(mask_value(session).steps[0].exchange.response_headers)


def test_har_page_titles_lose_their_userinfo_in_the_final_pass():
    from pulltrace.render.har import to_har

    trace = _trace()
    trace.sessions[0].summary.image = "https://ci:s3cr3t-pass-w0rd@r.test/team/app:1"
    (page,) = to_har(mask_trace(trace))["log"]["pages"]
    assert page["title"] == "https://ci:…@r.test/team/app:1"


def test_the_final_pass_keeps_pulltraces_own_facts_about_credentials():
    # What kind of credential a token request carried is a fact, not a secret: the
    # dispatcher's pass must leave it, or the report explains a Basic login as anonymous.
    seed = Path(__file__).resolve().parents[2] / "samples" / "seeds" / "003-harbor-pull.json"
    trace = load_trace([seed])
    kinds = {st.facts.credential_kind for s in mask_trace(trace).sessions for st in s.steps} - {None}
    assert kinds == {"basic"}
    assert "with the password of account admin (Basic)" in render(trace, "md", explain=True)
