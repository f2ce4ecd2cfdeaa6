"""Traces built with the model directly, modelled on the seed transcripts
(seed 000: daocloud busybox; seed 001: Docker Hub alpine), plus a hostile one."""

from __future__ import annotations

import json

from pulltrace.model import (
    Exchange,
    Finding,
    Link,
    Session,
    SessionSummary,
    Severity,
    Step,
    StepFacts,
    StepKind,
    Timings,
    Trace,
)

T0 = 1517106917.0  # 2018-01-28 02:35:17 UTC, the Date of seed 000's first response

MANIFEST_000 = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 1497,
        "digest": "sha256:5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3",
    },
    "layers": [
        {
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 723070,
            "digest": "sha256:57310166fe88e0dc63a80ca5c219283a932db0f3969712e2f8a86ada143bf566",
        }
    ],
}
CONFIG_000 = "sha256:5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3"
MANIFEST_DIGEST_000 = "sha256:4cee1979ba0bf7db9fc5d28fb7b798ca69ae95a47c5fecf46327720df4ff352d"


def ex(
    n: int,
    method: str,
    url: str,
    status: int,
    *,
    at: float,
    ms: float,
    req: list[tuple[str, str]] | None = None,
    resp: list[tuple[str, str]] | None = None,
    body: str | None = None,
    size: int | None = None,
    reason: str = "",
) -> Exchange:
    return Exchange(
        id=f"x{n}",
        method=method,
        url=url,
        started_at=T0 + at,
        request_headers=req or [],
        status=status,
        reason=reason,
        response_headers=resp or [],
        client="docker/17.12.0-ce",
        response_body_preview=body,
        response_bytes=size if size is not None else (len(body.encode()) if body else 0),
        duration_ms=ms,
        timings=Timings(send_ms=0.1, wait_ms=ms * 0.8, receive_ms=ms * 0.2),
    )


def seed000_trace() -> Trace:
    """`docker pull daocloud.io/busybox` as seed 000 records it: five steps."""
    auth = [("Authorization", "Bearer eyJ0eXAi…")]
    e1 = ex(
        1, "GET", "https://daocloud.io/v2/", 401, at=0.0, ms=31,
        resp=[
            ("Server", "nginx/1.11.13"),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", "87"),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
            ("Www-Authenticate", 'Bearer realm="https://daohub-auth.daocloud.io/auth",service="daocloud.io"'),
            ("X-Content-Type-Options", "nosniff"),
        ],
        body='{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}',
    )
    e2 = ex(
        2, "GET", "https://daohub-auth.daocloud.io/auth?scope=repository%3Abusybox%3Apull&service=daocloud.io",
        200, at=0.05, ms=25,
        resp=[("Server", "nginx/1.11.6"), ("Content-Type", "application/json"), ("Content-Length", "570")],
        body='{"token":"eyJ0eXAi…"}', size=570,
    )
    manifest = json.dumps(MANIFEST_000)
    e3 = ex(
        3, "GET", "https://daocloud.io/v2/busybox/manifests/latest", 200, at=0.1, ms=40,
        req=auth + [("Accept", "application/vnd.docker.distribution.manifest.v2+json")],
        resp=[
            ("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
            ("Content-Length", "527"),
            ("Docker-Content-Digest", MANIFEST_DIGEST_000),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
            ("Etag", f'"{MANIFEST_DIGEST_000}"'),
        ],
        body=manifest, size=527,
    )
    signed = (
        "http://daohub.ufile.ucloud.com.cn/docker/registry/v2/blobs/sha256/5b/"
        + CONFIG_000.removeprefix("sha256:")
        + "/data?Expires=…&Signature=…&UCloudPublicKey=…"
    )
    e4 = ex(
        4, "GET", f"https://daocloud.io/v2/busybox/blobs/{CONFIG_000}", 307, at=0.16, ms=22,
        req=auth,
        resp=[
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "311"),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
            ("Location", signed),
        ],
        size=311, reason="Temporary Redirect",
    )
    e5 = ex(
        5, "GET", signed, 200, at=0.19, ms=55,
        resp=[("Content-Type", "application/octet-stream"), ("Content-Length", "1497")],
        size=1497,
    )
    steps = [
        Step(e1, StepKind.PING, 0, role="challenge"),
        Step(e2, StepKind.TOKEN, 1, repository="busybox", links=[Link("answers", "x1")]),
        Step(e3, StepKind.MANIFEST, 2, repository="busybox", reference="latest"),
        Step(
            e4, StepKind.BLOB_REDIRECT, 3, repository="busybox", reference=CONFIG_000,
            links=[Link("blob-of", "x3"), Link("redirects-to", "x5")],
        ),
        Step(e5, StepKind.CDN_DOWNLOAD, 4, links=[Link("follows", "x4")], facts=StepFacts(digest=CONFIG_000)),
    ]
    summary = SessionSummary(
        image="daocloud.io/busybox:latest",
        registry="daocloud.io",
        manifest_digest=MANIFEST_DIGEST_000,
        auth="bearer",
        scopes_requested=["repository:busybox:pull"],
        scopes_granted=["repository:busybox:pull"],
        layers=1,
        layers_fetched=0,
        bytes=527 + 1497,
        duration_ms=245.0,
    )
    session = Session("seed-000", client="docker/17.12.0-ce", steps=steps, summary=summary)
    return Trace(sessions=[session], source="seed 000 (reconstructed)", created_at=T0, tool_version="0.1.0")


def hub_alpine_trace() -> Trace:
    """Docker Hub alpine from seed 001: an index, a platform manifest, a finding."""
    index = {
        "manifests": [
            {"digest": "sha256:" + "a" * 64, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "platform": {"architecture": "amd64", "os": "linux"}, "size": 528},
            {"digest": "sha256:" + "b" * 64, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}, "size": 528},
        ],
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "schemaVersion": 2,
    }
    hub = "https://registry-1.docker.io"
    bearer = [("Authorization", "Bearer eyJhbGci…")]
    exchanges = [
        ex(1, "GET", f"{hub}/v2/", 401, at=0, ms=120, resp=[
            ("Content-Type", "application/json"),
            ("Www-Authenticate", 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'),
        ], body='{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'),
        ex(2, "GET", "https://auth.docker.io/token?scope=repository%3Alibrary%2Falpine%3Apull&service=registry.docker.io",
           200, at=0.13, ms=300, resp=[("Content-Type", "application/json")],
           body='{"token":"eyJhbGci…","access_token":"eyJhbGci…","expires_in":300,'
                '"issued_at":"2020-08-20T06:17:42.575597053Z"}'),
        ex(3, "GET", f"{hub}/v2/library/alpine/manifests/latest", 200, at=0.45, ms=180, req=bearer, resp=[
            ("Content-Type", "application/vnd.docker.distribution.manifest.list.v2+json"),
            ("Docker-Content-Digest", "sha256:" + "c" * 64),
            ("RateLimit-Limit", "100;w=21600"),
            ("RateLimit-Remaining", "99;w=21600"),
        ], body=json.dumps(index)),
        ex(4, "GET", f"{hub}/v2/library/alpine/manifests/sha256:{'a' * 64}", 200, at=0.64, ms=150, req=bearer,
           resp=[("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
                 ("Docker-Content-Digest", "sha256:" + "a" * 64)],
           body=json.dumps({**MANIFEST_000, "layers": MANIFEST_000["layers"]})),
        ex(5, "GET", f"{hub}/v2/library/alpine/blobs/sha256:{'d' * 64}", 307, at=0.8, ms=160, req=bearer,
           resp=[("Location", f"https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/"
                              f"sha256/dd/{'d' * 64}/data?verify=…")]),
        ex(6, "GET", f"https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/"
                     f"sha256/dd/{'d' * 64}/data?verify=…", 200, at=0.97, ms=400,
           resp=[("Content-Type", "application/octet-stream")], size=2797541),
    ]
    kinds = [StepKind.PING, StepKind.TOKEN, StepKind.MANIFEST_INDEX, StepKind.MANIFEST,
             StepKind.BLOB_REDIRECT, StepKind.CDN_DOWNLOAD]
    links = [[], [Link("answers", "x1")], [Link("chooses", "x4")], [Link("chosen-from", "x3")],
             [Link("blob-of", "x4"), Link("redirects-to", "x6")], [Link("follows", "x5")]]
    steps = [Step(e, k, i, links=ls) for i, (e, k, ls) in enumerate(zip(exchanges, kinds, links, strict=True))]
    summary = SessionSummary(
        image="docker.io/library/alpine:latest", registry="registry-1.docker.io", platform="linux/amd64",
        manifest_digest="sha256:" + "c" * 64, auth="bearer (anonymous)",
        scopes_requested=["repository:library/alpine:pull"], scopes_granted=["repository:library/alpine:pull"],
        layers=1, layers_fetched=1, bytes=2797541, duration_ms=1370.0,
    )
    finding = Finding(
        rule="rate-limit", severity=Severity.INFO, title="Docker Hub pull limit reported",
        cause="Docker Hub counts manifest GETs against an anonymous limit of 100 per 6 hours.",
        fix="Log in, or pull through a mirror.", steps=["x3"],
    )
    session = Session("hub-alpine", client="docker/19.03.12", steps=steps, summary=summary, findings=[finding])
    return Trace(sessions=[session], source="seed 001 (reconstructed)", created_at=T0, tool_version="0.1.0")


PAYLOAD = '<script>alert(1)</script><img src=x onerror=alert(2)>'


def hostile_trace() -> Trace:
    """A registry answering with markup in every field a view prints."""
    e = ex(
        1, "GET", f"https://evil.test/v2/x/manifests/{PAYLOAD}", 401, at=0, ms=5,
        resp=[
            ("Www-Authenticate", f'Bearer realm="https://evil.test/t\\"><script>alert(3)</script>",service="{PAYLOAD}"'),
            ("X-Evil", PAYLOAD),
            ("Content-Type", "application/json"),
        ],
        body=json.dumps({"errors": [{"code": PAYLOAD, "message": "</details></td><script>alert(4)</script>"}]}),
        reason=PAYLOAD,
    )
    e2 = ex(2, "GET", f"https://auth.evil.test/{PAYLOAD}", 200, at=0.01, ms=5, body='{"token": "…"}')
    steps = [Step(e, StepKind.ERROR, 0, links=[Link("retried-by", "x2", note=PAYLOAD)],
                  facts=StepFacts(location=PAYLOAD)),
             Step(e2, StepKind.TOKEN, 1)]
    summary = SessionSummary(image=PAYLOAD, registry="evil.test", auth=PAYLOAD, errors=[PAYLOAD])
    finding = Finding("evil", Severity.ERROR, PAYLOAD, PAYLOAD, PAYLOAD, ["x1"])
    session = Session(PAYLOAD, client=PAYLOAD, steps=steps, summary=summary, findings=[finding])
    return Trace(sessions=[session], source=PAYLOAD, notes=[PAYLOAD])
