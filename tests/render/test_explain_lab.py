"""Teaching mode on real pulls: `pulltrace pull` against the lab's registries, token service,
CDN and broken endpoints, then every step explained in both languages. The sentences must
name what the real servers did (their realm, their redirect host, their error codes), and
a second pull from a warm cache must answer seed 003's question: the layers the client
already had were never asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulltrace.commands.main import main
from pulltrace.model import load_trace
from pulltrace.render.explain import explain_session

pytestmark = pytest.mark.lab


def _pull(lab, tmp_path: Path, endpoint: str, repo: str, *extra: str, cache: str = "cache", name: str = "t"):
    trace = tmp_path / f"{name}.json"
    main(["pull", f"{lab.host(endpoint)}/{repo}", "-q", "--no-output", "--cache", str(tmp_path / cache),
          "--save-trace", str(trace), *extra])
    return load_trace(trace)


def _explained(trace, lang: str) -> list[str]:
    """Every sentence of every session; each step must have at least one."""
    out = []
    for session in trace.sessions:
        e = explain_session(session, lang)
        assert all(step.sentences for step in e.steps), [s.number for s in e.steps if not s.sentences]
        out += [sentence for step in e.steps for sentence in step.sentences] + list(e.notes)
    for sentence in out:
        assert "None" not in sentence and " ? " not in sentence and "{" not in sentence, sentence
    return out


def test_a_token_pull_with_a_cdn_then_again_from_the_cache(lab, tmp_path):
    first = _pull(lab, tmp_path, "hub", "library/three", name="first")
    en = _explained(first, "en")
    hub = lab.host("hub")
    assert en[:2] == [
        f"The client asked {hub} whether it speaks the registry API v2 (GET /v2/).",
        "The registry answered 401 with a Bearer challenge: realm auth.pulltrace.test/token, service "
        "hub.pulltrace.test. The client must fetch a token there before it may read the manifest.",
    ]
    assert "The blob is served from another host: the registry answered 307 Temporary Redirect with a Location " \
           "on cdn.pulltrace.test." in en
    assert "Layers the client already had: none; it asked for every blob the manifest names (4)." in en
    zh = _explained(first, "zh")
    assert ("registry 返回 401 未认证，并在 WWW-Authenticate 头中给出 Bearer 认证方式："
            "realm 为 auth.pulltrace.test/token，service 为 hub.pulltrace.test。"
            "客户端要先到这里获取 token，才能拉取清单。") in zh

    again = _pull(lab, tmp_path, "hub", "library/three", name="again")
    notes = [n for s in again.sessions for n in explain_session(s, "en").notes]
    assert len(notes) == 1 and notes[0].startswith(
        "Layers the client already had: the manifest names 4 blobs, and the client never asked for config ")
    assert notes[0].endswith("so they were not downloaded; a client skips the blobs it already holds.")
    assert "The trace holds no request for any blob it names." in _explained(again, "en")


def test_failures_of_real_servers_are_explained(lab, tmp_path):
    expired = _explained(_pull(lab, tmp_path, "expired", "library/tiny", name="expired"), "en")
    assert "The request failed: 403 Forbidden (AccessDenied: Request has expired)." in expired
    limited = _explained(_pull(lab, tmp_path, "ratelimit", "library/tiny", name="limited"), "zh")
    assert any(s.startswith("服务端限制了请求频率") and "3600 秒（Retry-After）" in s for s in limited), limited
    loop = _explained(_pull(lab, tmp_path, "loop", "library/tiny", name="loop"), "en")
    assert any(s.endswith("the redirects go round in a loop.") for s in loop)


@pytest.mark.parametrize("endpoint,extra", [
    ("gcr", []), ("harbor", []), ("basic", ["-u", "admin", "-p", "admin-pass"]),
])
def test_every_step_of_each_registry_is_explained(lab, tmp_path, endpoint, extra):
    trace = _pull(lab, tmp_path, endpoint, "library/tiny", *extra)
    for lang in ("en", "zh"):
        _explained(trace, lang)
