"""diagnose() as a whole: ordering, robustness, no false alarms on the seed pulls, and the
same answers whether steps come hand-classified or through the real classifier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from diagnose_recorded import CHALLENGE, healthy_hub_pull, make_token, step_by_kind

import pulltrace.diagnose as doctor
from pulltrace.classify import error_text
from pulltrace.diagnose import diagnose
from pulltrace.model import Severity, StepKind, Trace, load_trace

SEEDS = sorted((Path(__file__).parents[3] / "samples" / "seeds").glob("*.json"))


def broken_pull():
    """A pull with a warning early (Authorization to the CDN) and an error later (blob unknown)."""
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 0)
    download.exchange.request_headers.append(("Authorization", "Bearer eyJ…"))
    layer = step_by_kind(r.session(), StepKind.BLOB_REDIRECT, 1)
    r.steps = r.steps[: layer.index]
    failed = r.add(StepKind.BLOB_REDIRECT, "GET", layer.exchange.url, 404,
                   request_headers=layer.exchange.request_headers,
                   body='{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}')
    failed.error = error_text(failed.exchange)  # a failed step keeps its kind
    return r


def test_errors_come_first_then_by_step():
    findings = diagnose(broken_pull().session())
    assert [(f.rule, f.severity) for f in findings] == [
        ("blob.unknown", Severity.ERROR), ("blob.auth-to-cdn", Severity.WARNING)]


def test_a_rule_that_crashes_does_not_silence_the_others(monkeypatch, caplog):
    def broken(session, **_):
        raise KeyError("odd trace")
    monkeypatch.setattr(doctor, "RULES", (broken, *doctor.RULES))
    findings = diagnose(broken_pull().session())
    assert [f.rule for f in findings][:1] == ["blob.unknown"]
    assert "broken" in caplog.text


def test_findings_survive_the_trace_json():
    session = broken_pull().session()
    session.findings = diagnose(session)
    back = Trace.from_json(Trace(sessions=[session]).to_json())
    assert back.sessions[0].findings == session.findings


def test_unexplained_failure_still_gets_a_finding():
    r = healthy_hub_pull()
    index = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    r.steps = r.steps[: index.index]
    r.add(StepKind.ERROR, "GET", index.exchange.url, 418, request_headers=index.exchange.request_headers,
          body='{"errors":[{"code":"TEAPOT","message":"short and stout"}]}')
    f = diagnose(r.session())[0]
    assert f.rule == "pull.failed" and "short and stout" in f.cause


@pytest.mark.parametrize("path", SEEDS, ids=[p.stem for p in SEEDS])
def test_seed_pulls_raise_no_alarm(path):
    for session in load_trace(path).sessions:
        loud = [f for f in diagnose(session) if f.severity != Severity.INFO]
        assert loud == [], [f.title for f in loud]


def _through_pipeline(recorder):
    pipeline = pytest.importorskip("pulltrace.pipeline")
    trace = pipeline.build_trace([s.exchange for s in recorder.steps], "test")
    return [f for s in trace.sessions for f in diagnose(s)]


def test_real_classifier_gives_the_same_answers():
    assert _through_pipeline(healthy_hub_pull(credentials=True)) == []
    assert [f.rule for f in _through_pipeline(broken_pull())] == ["blob.unknown", "blob.auth-to-cdn"]


def test_real_classifier_insufficient_scope_and_expiry():
    from test_diagnose_auth import denied_pull

    assert _through_pipeline(denied_pull("private/secret", credentials=True, show_token=True))[0].rule == \
        "auth.insufficient-scope"
    assert _through_pipeline(denied_pull("private/secret", credentials=False, show_token=False))[0].rule == \
        "auth.anonymous-private"
    token = make_token(lifetime=4)
    r = healthy_hub_pull(token=token, show_token=True)
    layer = step_by_kind(r.session(), StepKind.BLOB_REDIRECT, 1)
    r.steps = r.steps[: layer.index]
    r.steps[-1].exchange.duration_ms = 70_000.0  # a slow download: the session stays busy meanwhile
    r.add(StepKind.ERROR, "GET", layer.exchange.url, 401, request_headers=[("Authorization", f"Bearer {token}")],
          at=layer.exchange.started_at + 70,
          response_headers=[("WWW-Authenticate", CHALLENGE + ',error="invalid_token"')],
          body=json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))
    assert _through_pipeline(r)[0].rule == "auth.token-expired"
