"""mitmproxy test flows of one small pull (challenge, manifest, blob) for the addon's tests."""

import hashlib
import json

from mitmproxy import http
from mitmproxy.test import tflow, tutils

from pulltrace.capture.addon import PullTrace

BLOB = b"0123456789" * 1000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
REGISTRY = "hub.pulltrace.test"


def flow(path: str, *, method: str = "GET", status: int = 200, headers=(), content: bytes | None = b"",
         host: str = REGISTRY, req_headers=(), t: float = 1000.0) -> http.HTTPFlow:
    req = tutils.treq(host=host, port=443, scheme=b"https", method=method.encode(), path=path.encode(),
                      headers=http.Headers([(k.encode(), v.encode()) for k, v in req_headers]),
                      content=b"", timestamp_start=t, timestamp_end=t + 0.001)
    resp = tutils.tresp(status_code=status, reason=b"OK",
                        headers=http.Headers([(k.encode(), v.encode()) for k, v in headers]),
                        content=content, timestamp_start=t + 0.01, timestamp_end=t + 0.02)
    f = tflow.tflow(req=req, resp=resp)
    return f


# A manifest whose config is BLOB, no layers: the smallest complete pull.
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(BLOB), "digest": DIGEST},
    "layers": [],
}).encode()


def manifest_flow(t: float = 1000.0, repo: str = "library/tiny") -> http.HTTPFlow:
    body = MANIFEST
    return flow(f"/v2/{repo}/manifests/latest", content=body, t=t,
                headers=[("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
                         ("Content-Length", str(len(body)))])


def blob_flow(t: float = 1001.0, digest: str = DIGEST, repo: str = "library/tiny") -> http.HTTPFlow:
    f = flow(f"/v2/{repo}/blobs/{digest}", t=t,
             headers=[("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BLOB)))])
    f.response.content = None  # a streamed body never lands in the flow
    return f


def stream_through(pt: PullTrace, f: http.HTTPFlow, body: bytes, chunk: int = 4096) -> bytes:
    """What mitmproxy does with a streamed response: every chunk, then b"" at the end."""
    pt.responseheaders(f)
    assert callable(f.response.stream)
    out = b""
    for i in range(0, len(body), chunk):
        out += f.response.stream(body[i : i + chunk])
    out += f.response.stream(b"")
    pt.response(f)
    return out
