"""Recorded pulls built from the model, modelled on the seed transcripts (seed-001's Docker Hub
pull) with the lab's host names. `healthy_hub_pull()` is a clean pull; each test breaks one
thing in a copy of it, the way the registry or client would."""

from __future__ import annotations

import copy
import hashlib
import json
from email.utils import formatdate
from typing import Any

import jwt

from pulltrace.model import Exchange, Link, Session, SessionSummary, Step, StepFacts, StepKind

HUB = "hub.pulltrace.test"
AUTH = "auth.pulltrace.test"
CDN = "cdn.pulltrace.test"
T0 = 1_700_000_000.0

INDEX_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT_DOCKER = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
]
UA = "docker/20.10.24 go/go1.19.8 os/linux arch/amd64"


def sha(data: bytes | str) -> str:
    return "sha256:" + hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
LAYER = b"\x1f\x8b pretend gzip tar of the tiny layer"
CONFIG_DIGEST = sha(CONFIG)
LAYER_DIGEST = sha(LAYER)
MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": MANIFEST_TYPE,
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": len(CONFIG),
        "digest": CONFIG_DIGEST,
    },
    "layers": [{
        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "size": len(LAYER),
        "digest": LAYER_DIGEST,
    }],
})
MANIFEST_DIGEST = sha(MANIFEST)
ARM_DIGEST = sha("arm64 manifest")
INDEX = json.dumps({
    "schemaVersion": 2,
    "mediaType": INDEX_TYPE,
    "manifests": [
        {"mediaType": MANIFEST_TYPE, "digest": MANIFEST_DIGEST, "size": len(MANIFEST),
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": MANIFEST_TYPE, "digest": ARM_DIGEST, "size": 528,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    ],
})
INDEX_DIGEST = sha(INDEX)


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def make_token(*, repo: str = "library/tiny", actions: tuple[str, ...] = ("pull",), iat: float = T0,
               lifetime: float = 300, nbf: float | None = None, sub: str = "") -> str:
    """A JWT shaped like distribution's token service issues (signature irrelevant: rules never verify)."""
    claims = {
        "iss": "auth.pulltrace.test", "sub": sub, "aud": HUB,
        "iat": int(iat), "nbf": int(nbf if nbf is not None else iat),
        "exp": int(iat + lifetime), "jti": "abc",
        "access": [{"type": "repository", "name": repo, "actions": list(actions)}],
    }
    return jwt.encode(claims, "pulltrace-test-signing-key-0123456789abcdef", algorithm="HS256")


def masked(token: str) -> str:
    return token[:8] + "…"


class Recorder:
    """Builds a session step by step, the clock advancing 50 ms per exchange."""

    def __init__(self, client: str = "docker", start: float = T0) -> None:
        self.steps: list[Step] = []
        self.now = start
        self.client = client

    def add(self, kind: StepKind, method: str, url: str, status: int | None, *,
            request_headers: list[tuple[str, str]] | None = None,
            response_headers: list[tuple[str, str]] | None = None,
            body: str | None = None, body_sha256: str | None = None, response_bytes: int | None = None,
            error: str | None = None, repository: str | None = None, reference: str | None = None,
            links: list[Link] | None = None, facts: StepFacts | None = None,
            date_offset: float = 0.0, at: float | None = None) -> Step:
        if at is not None:
            self.now = at
        started = self.now
        self.now += 0.05
        headers = list(response_headers or [])
        if status is not None:
            headers.append(("Date", http_date(started + date_offset)))
            if body is not None and not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(("Content-Type", "application/json"))
        ex = Exchange(
            id=f"e{len(self.steps) + 1}", method=method, url=url, started_at=started,
            request_headers=[("User-Agent", UA), *(request_headers or [])], status=status,
            reason={200: "OK", 307: "Temporary Redirect", 401: "Unauthorized", 404: "Not Found", 403: "Forbidden",
                    429: "Too Many Requests"}.get(status or 0, ""),
            response_headers=headers, client=self.client, response_body_preview=body,
            response_bytes=response_bytes if response_bytes is not None else (len(body) if body else 0),
            body_sha256=body_sha256, duration_ms=50.0, error=error,
        )
        step = Step(exchange=ex, kind=kind, index=len(self.steps), repository=repository, reference=reference,
                    links=links or [], facts=facts or StepFacts())
        self.steps.append(step)
        return step

    def session(self, **summary: Any) -> Session:
        s = SessionSummary(image=f"{HUB}/library/tiny:latest", registry=HUB)
        for k, v in summary.items():
            setattr(s, k, v)
        return Session(id="s1", client=self.client, steps=self.steps, summary=s)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def accept(types: list[str]) -> list[tuple[str, str]]:
    return [("Accept", t) for t in types]


CHALLENGE = f'Bearer realm="https://{AUTH}/token",service="{HUB}"'
UNAUTHORIZED = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'


def healthy_hub_pull(*, token: str | None = None, repo: str = "library/tiny", tag: str = "latest",
                     show_token: bool = False, credentials: bool = False) -> Recorder:
    """docker pull hub.pulltrace.test/library/tiny: ping 401, token, index, manifest, config and layer via CDN."""
    token = token or make_token(repo=repo)
    sent = token if show_token else masked(token)
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 401,
          response_headers=[("WWW-Authenticate", CHALLENGE), ("Docker-Distribution-Api-Version", "registry/2.0")],
          body=UNAUTHORIZED)
    token_body = json.dumps({"token": sent, "access_token": sent, "expires_in": 300,
                             "issued_at": "2023-11-14T22:13:20.123456789Z"})
    account = "&account=admin" if credentials else ""
    scope = f"repository%3A{repo.replace('/', '%2F')}%3Apull"
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?scope={scope}&service={HUB}{account}",
          200, request_headers=[("Authorization", "Basic YWRt…")] if credentials else [], body=token_body,
          links=[Link("answers", "e1")])
    auth = bearer(sent)
    r.add(StepKind.MANIFEST_INDEX, "GET", f"https://{HUB}/v2/{repo}/manifests/{tag}", 200,
          request_headers=accept(ACCEPT_DOCKER) + auth,
          response_headers=[("Content-Type", INDEX_TYPE), ("Docker-Content-Digest", INDEX_DIGEST)],
          body=INDEX, body_sha256=INDEX_DIGEST, repository=repo, reference=tag)
    r.add(StepKind.MANIFEST, "GET", f"https://{HUB}/v2/{repo}/manifests/{MANIFEST_DIGEST}", 200,
          request_headers=accept(ACCEPT_DOCKER) + auth,
          response_headers=[("Content-Type", MANIFEST_TYPE), ("Docker-Content-Digest", MANIFEST_DIGEST)],
          body=MANIFEST, body_sha256=MANIFEST_DIGEST, repository=repo, reference=MANIFEST_DIGEST,
          links=[Link("chosen-from", "e3")])
    for digest, data in ((CONFIG_DIGEST, CONFIG.encode()), (LAYER_DIGEST, LAYER)):
        hexd = digest.split(":")[1]
        cdn_url = f"https://{CDN}/docker/registry/v2/blobs/sha256/{hexd[:2]}/{hexd}/data?verify=…"
        redirect = r.add(StepKind.BLOB_REDIRECT, "GET", f"https://{HUB}/v2/{repo}/blobs/{digest}", 307,
                         request_headers=auth, response_headers=[("Location", cdn_url), ("Content-Length", "0")],
                         repository=repo, reference=digest)
        r.add(StepKind.CDN_DOWNLOAD, "GET", cdn_url, 200,
              response_headers=[("Content-Type", "application/octet-stream")],
              body_sha256=sha(data), response_bytes=len(data), links=[Link("follows", redirect.id)],
              facts=StepFacts(digest=digest))
    return r


def clone(r: Recorder) -> Recorder:
    return copy.deepcopy(r)


def step_by_kind(session: Session, kind: StepKind, nth: int = 0) -> Step:
    return [s for s in session.steps if s.kind == kind][nth]


