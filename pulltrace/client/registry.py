"""The registry API calls a pull makes — ping, manifest HEAD/GET, blob GET — and what their
errors mean to a user.

Requests go out in the order dockerd sends them (seed 004's Harbor log): `GET /v2/`, then
`HEAD /manifests/<tag>` for the digest, then `GET /manifests/<digest>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from pulltrace import jsonbound
from pulltrace.client.digests import check_digest
from pulltrace.client.endpoints import Endpoint
from pulltrace.client.errors import (
    AccessDenied,
    AuthError,
    ConnectionFailed,
    NotFound,
    RegistryError,
    TLSFailure,
)
from pulltrace.client.retry import RETRY_STATUSES, RetryPolicy, Sleeper, retry_after
from pulltrace.client.transport import MANIFEST_LIMIT, OTHER_LIMIT, BodyLimit, Response, Transport
from pulltrace.manifest import ACCEPT_ALL_MANIFESTS

# One Accept header naming every form pulltrace can read. A registry that has only schema1
# answers with it anyway (old registries ignore Accept); parse_manifest spots that.
MANIFEST_ACCEPT = ACCEPT_ALL_MANIFESTS


@dataclass(frozen=True)
class ManifestBytes:
    body: bytes
    content_type: str | None
    header_digest: str | None
    url: str
    exchange_id: str


def error_codes(body: bytes | str | None) -> list[tuple[str, str]]:
    """The `errors[].code/message` pairs of a registry error body (spec'd JSON), if any."""
    try:
        data = jsonbound.loads(body or b"", what="error body")
    except ValueError:  # JSONBoundError too: a hostile body nested too deep is no error list
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [(str(e.get("code", "")), str(e.get("message", ""))) for e in errors if isinstance(e, dict)]


# Object storage behind a blob redirect (S3, GCS) answers in XML, not the registry's JSON.
_XML_ERROR = re.compile(r"<Code>([^<]{1,100})</Code>(?:\s*<Message>([^<]{1,200})</Message>)?")


def storage_error(body: bytes | str | None) -> str:
    """`AccessDenied: Request has expired` from an S3-style XML error body, else ""."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    m = _XML_ERROR.search(text)
    return ": ".join(g for g in m.groups() if g) if m else ""


class RegistryClient:
    """One repository on one endpoint."""

    def __init__(self, transport: Transport, endpoint: Endpoint, repository: str, *,
                 display_name: str, policy: RetryPolicy | None = None, sleep: Sleeper | None = None,
                 logged_in: Callable[[], str | None] = lambda: None) -> None:
        self.transport = transport
        self.endpoint = endpoint
        self.repository = repository
        self.display_name = display_name
        self.policy = policy or RetryPolicy()
        self.sleep = sleep or Sleeper()
        self._logged_in = logged_in

    # -- plumbing -------------------------------------------------------------------------
    def send(self, method: str, url: httpx.URL, headers: dict[str, str] | None = None, *,
             stream: bool = False, limit: BodyLimit = OTHER_LIMIT) -> Response:
        """A request with bounded retries on 5xx, 429 and broken connections."""
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.policy.attempts
            try:
                res = self.transport.request(method, url, headers, stream=stream, limit=limit)
            except TLSFailure:
                raise
            except ConnectionFailed as e:
                attempts = self.policy.connect_attempts if e.connect else self.policy.attempts
                if attempt >= attempts or not self.sleep(self.policy.delay(attempt)):
                    raise
                continue
            if res.status in RETRY_STATUSES and not last:
                wait = self.policy.delay(attempt)
                if res.status == 429:
                    after = retry_after(res.http.headers.get("retry-after"))
                    if after is not None and after > self.policy.max_retry_after:
                        return res
                    wait = max(wait, after or 0.0)
                res.http.close()
                if not self.sleep(wait):
                    return res
                continue
            return res

    def fail(self, res: Response, what: str) -> Exception:
        """The error a non-success answer to `what` means for the user."""
        body = res.exchange.response_body_preview
        codes = error_codes(body)
        code_names = {c for c, _ in codes}
        message = "; ".join(m for _, m in codes if m) or res.http.reason_phrase
        where = f"{self.display_name} on {self.endpoint.host}"
        if res.status in (401, 403) and len(res.hops) > 1 and res.url.host != httpx.URL(res.hops[0].url).host:
            # A redirect led to a CDN or object storage: its refusal is not about the login
            # (S3 answers 403 AccessDenied to an expired or altered presigned URL).
            detail = storage_error(body) or message
            return RegistryError(f"{what}: the download host {res.url.host} refused the registry's redirect "
                                 f"({res.status}{': ' + detail if detail else ''}); its signed URL may have expired "
                                 "or been altered on the way — retry the pull", res.status)
        if res.status == 404:
            if "NAME_UNKNOWN" in code_names:
                return NotFound(f"repository {self.repository!r} not found on {self.endpoint.host}; check the name")
            if "BLOB_UNKNOWN" in code_names:
                return NotFound(f"{what} not found in {where}: the registry lost a blob its manifest names")
            return NotFound(f"{what} not found in {where}; check the tag or digest "
                            f"(`skopeo list-tags docker://{self.display_name.rsplit(':', 1)[0]}` lists tags)")
        if res.status in (401, 403):
            sent = res.exchange.request_header("authorization") or ""
            if res.status == 401 and sent.lower().startswith("basic "):
                return AuthError(f"{self.endpoint.host} refused the password of user {self._logged_in()!r} "
                                 "(401); check the username and password")
            who = self._logged_in()
            if who:
                return AccessDenied(f"access to {self.repository!r} on {self.endpoint.host} denied for user "
                                    f"{who!r} ({res.status}{': ' + message if message else ''}); "
                                    "that account may not pull this repository")
            return AccessDenied(f"pull access denied for {self.repository!r} on {self.endpoint.host}: the "
                                "repository does not exist or needs a login (-u USER --password-stdin, "
                                "or `docker login`)")
        if res.status == 429:
            detail = f": {message}" if message else ""
            return RegistryError(f"{self.endpoint.host} is rate-limiting pulls (429{detail}); "
                                 "wait and retry, or log in", res.status)
        return RegistryError(f"{what}: {self.endpoint.host} answered {res.status} {message}".rstrip(), res.status)

    # -- the calls ------------------------------------------------------------------------
    def ping(self) -> Response:
        """`GET /v2/`: 200 (open) or 401 (the challenge to answer later)."""
        res = self.send("GET", self.endpoint.url(""))
        if res.status not in (200, 401):
            if res.status == 404:
                raise RegistryError(f"{self.endpoint.base} does not speak the registry API (/v2/ answered 404); "
                                    "check the registry or proxy URL", 404)
            raise self.fail(res, "registry ping")
        return res

    def head_manifest(self, reference: str) -> str | None:
        """The digest a HEAD by tag announces, or None (no header, or an error to see via GET).

        The digest becomes the next request's path: one that is not a valid sha256 digest
        is refused here, before it is used.
        """
        res = self.send("HEAD", self.endpoint.url(f"{self.repository}/manifests/{reference}"),
                        {"Accept": MANIFEST_ACCEPT})
        if res.status != 200:
            return None
        digest = res.http.headers.get("docker-content-digest")
        if not digest:
            return None
        return check_digest(digest.strip(), f"the Docker-Content-Digest {self.endpoint.host} answered to "
                                            f"HEAD {self.display_name}")

    def get_manifest(self, reference: str) -> ManifestBytes:
        """A manifest's bytes, refused while they stream in if they pass containerd's cap."""
        res = self.send("GET", self.endpoint.url(f"{self.repository}/manifests/{reference}"),
                        {"Accept": MANIFEST_ACCEPT}, limit=MANIFEST_LIMIT)
        if res.status != 200:
            kind = "manifest " + (reference if reference.startswith("sha256:") else f"for tag {reference!r}")
            raise self.fail(res, kind)
        return ManifestBytes(
            body=res.http.content,
            content_type=res.http.headers.get("content-type"),
            header_digest=res.http.headers.get("docker-content-digest"),
            url=str(res.url),
            exchange_id=res.exchange.id,
        )

    @contextmanager
    def open_blob(self, digest: str, offset: int = 0) -> Iterator[Response]:
        """A streamed `GET /blobs/<digest>`, following redirects; `offset` asks for a Range."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self.transport.stream("GET", self.endpoint.url(f"{self.repository}/blobs/{digest}"), headers) as res:
            yield res
