"""One hostile exchange never loses the rest of a capture: a Location that cannot be parsed,
a registry body nested 1,200 deep — each is a step of its pull, and the other pulls are intact."""

from __future__ import annotations

import json

from pulltrace.model import Exchange
from pulltrace.pipeline import build_trace


def _manifest(n: int, t: float, repo: str) -> Exchange:
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                                  "digest": "sha256:" + "c" * 64}, "layers": []})
    return Exchange(id=f"m{n}", method="GET", url=f"https://r.test/v2/{repo}/manifests/latest", started_at=t,
                    status=200, duration_ms=5,
                    response_headers=[("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")],
                    response_body_preview=body, client="10.0.0.1:5000")


def test_a_location_that_cannot_be_parsed_is_still_a_redirect_step():
    bad = Exchange(id="b1", method="GET", url="https://r.test/v2/lib/a/blobs/sha256:" + "c" * 64, started_at=1.1,
                   status=307, response_headers=[("Location", "https://[bad")], client="10.0.0.1:5000")
    trace = build_trace([_manifest(1, 1.0, "lib/a"), bad, _manifest(2, 5.0, "lib/b")], source="test")
    steps = {s.id: s for session in trace.sessions for s in session.steps}
    assert set(steps) == {"m1", "b1", "m2"}
    assert sorted(s.summary.image for s in trace.sessions) == ["r.test/lib/a:latest", "r.test/lib/b:latest"]


def test_a_body_nested_1200_deep_is_read_as_no_json():
    deep = "{" + '"a":{' * 1200 + "}" * 1201
    hostile = Exchange(id="e1", method="GET", url="https://r.test/v2/lib/a/manifests/nope", started_at=1.0,
                       status=404, response_headers=[("Content-Type", "application/json")],
                       response_body_preview=deep, client="10.0.0.1:5000")
    assert hostile.response_json() is None
    trace = build_trace([hostile, _manifest(2, 5.0, "lib/b")], source="test")
    assert "r.test/lib/b:latest" in [s.summary.image for s in trace.sessions]
    assert "e1" in {s.id for session in trace.sessions for s in session.steps}
