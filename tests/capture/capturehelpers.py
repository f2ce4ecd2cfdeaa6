"""Helpers for the capture integration tests (this folder is on sys.path under pytest)."""

from __future__ import annotations

import os

from pulltrace.model import Session, Step, Trace


def proxy_env(mitm, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HTTPS_PROXY=mitm.url, HTTP_PROXY=mitm.url, https_proxy=mitm.url, http_proxy=mitm.url, **extra)
    return env


def pulls(trace: Trace) -> list[Session]:
    return [s for s in trace.sessions if s.action == "pull"]


def kinds(session: Session) -> list[str]:
    return [s.kind.value for s in session.steps]


def by_kind(session: Session, kind: str) -> list[Step]:
    return [s for s in session.steps if s.kind.value == kind]


def assert_downloads_follow_redirects(session: Session) -> None:
    """Every CDN download follows a blob redirect of this session, for the same blob."""
    steps = {s.id: s for s in session.steps}
    redirects = by_kind(session, "blob-redirect")
    downloads = by_kind(session, "cdn-download")
    assert len(downloads) == len(redirects)
    for cdn in downloads:
        (origin,) = cdn.linked("follows")
        assert steps[origin].kind.value == "blob-redirect"
        assert steps[origin].reference == cdn.facts.digest
        assert cdn.id in steps[origin].linked("redirects-to")
        assert cdn.exchange.body_sha256 == cdn.facts.digest  # hashed while streaming
