"""A client asking again inside one pull stays in that pull: containerd's GET by digest retried
after a 401 when a server log recorded no headers, and skopeo's second ping and token before it
lists the tags."""

from __future__ import annotations

from pulltrace.model import Exchange
from pulltrace.pipeline import build_trace

REG = "https://r.test"
DIGEST = "sha256:" + "a" * 64
UA = [("User-Agent", "containerd/1.6.20")]


def _ex(n: int, method: str, path: str, status: int, t: float, **kw) -> Exchange:
    return Exchange(id=f"x{n}", method=method, url=REG + path, started_at=t, status=status, duration_ms=2.0,
                    client="10.0.0.7:40000", request_headers=kw.pop("req", UA), **kw)


def test_a_get_by_digest_retried_after_a_401_in_a_log_without_headers_is_one_pull():
    # What distribution's access log keeps of a containerd pull: no headers, no bodies.
    exchanges = [
        _ex(1, "HEAD", "/v2/lib/app/manifests/1.0", 401, 1.00),
        _ex(2, "HEAD", "/v2/lib/app/manifests/1.0", 200, 1.10),
        _ex(3, "GET", f"/v2/lib/app/manifests/{DIGEST}", 401, 1.20),
        _ex(4, "GET", f"/v2/lib/app/manifests/{DIGEST}", 200, 1.30),
    ]
    trace = build_trace(exchanges, "log")
    (session,) = trace.sessions
    assert [s.id for s in session.steps] == ["x1", "x2", "x3", "x4"]
    assert session.summary.image == "r.test/lib/app:1.0"


def test_a_ping_and_token_asked_again_before_listing_tags_join_the_open_pull():
    skopeo = [("User-Agent", "skopeo/1.9.3")]
    challenge = [("WWW-Authenticate", 'Bearer realm="https://auth.r.test/token",service="r.test"')]
    token_body = '{"token": "opaque", "expires_in": 300}'

    def ping(n, t):
        return _ex(n, "GET", "/v2/", 401, t, req=skopeo, response_headers=challenge)

    def token(n, t):
        return Exchange(id=f"x{n}", method="GET", started_at=t, status=200, duration_ms=2.0, client="10.0.0.7:1",
                        url="https://auth.r.test/token?scope=repository%3Alib%2Fapp%3Apull&service=r.test",
                        request_headers=skopeo, response_headers=[("Content-Type", "application/json")],
                        response_body_preview=token_body)

    manifest = _ex(3, "GET", "/v2/lib/app/manifests/1.0", 200, 1.2, req=skopeo, response_headers=[
        ("Content-Type", "application/vnd.oci.image.manifest.v1+json"), ("Docker-Content-Digest", DIGEST)],
        response_body_preview='{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", '
                              '"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, '
                              f'"digest": "sha256:{"c" * 64}"}}, "layers": []}}')
    tags = _ex(6, "GET", "/v2/lib/app/tags/list", 200, 1.6, req=skopeo,
               response_headers=[("Content-Type", "application/json")],
               response_body_preview='{"name": "lib/app", "tags": ["1.0"]}')
    trace = build_trace([ping(1, 1.0), token(2, 1.1), manifest, ping(4, 1.4), token(5, 1.5), tags], "t")
    (session,) = trace.sessions
    assert [s.id for s in session.steps] == ["x1", "x2", "x3", "x4", "x5", "x6"]
