"""Exchange -> Step: what each request means in the registry protocol, and how steps relate.

Only protocol facts are used, never hostnames: the /v2/ path grammar (`pulltrace.v2path`),
the realms named by WWW-Authenticate challenges, Location chains and Referer, content
types, digests, and mirror parameters (`?ns=`). CDN and auth hosts differ between every
registry, so a request is a token request because an earlier challenge named its URL as
realm, and a CDN download because an earlier redirect pointed at it.

`Classifier.add(exchange)` classifies one exchange on arrival and links it to earlier
steps through indexes (challenges by realm, redirects by Location, manifests by the
digests they list), never by scanning earlier steps; `forget(steps)` drops what a closed
pull left in those indexes, so memory follows the open pulls, not the capture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pulltrace.auth import (
    Challenge,
    ChallengeError,
    authorization_scheme,
    parse_scope,
    parse_www_authenticate,
    read_token_request,
)
from pulltrace.manifest import INDEX_TYPES, MANIFEST_TYPES, ManifestError, ParsedManifest, parse_manifest
from pulltrace.model import CredentialKind, CredentialPrints, Exchange, Link, Step, StepKind
from pulltrace.redact.prints import NO_PRINTS, credential_prints
from pulltrace.urls import join_url
from pulltrace.v2path import V2Path, digest_in_url, is_digest, netloc, parse_path, registry_of, url_base

__all__ = [
    "BLOB_KINDS", "Classifier", "REDIRECT_STATUSES", "V2Path", "auth_scheme", "challenges_of", "classify",
    "client_host", "client_key", "digest_in_url", "is_digest", "kind_of", "manifest_digest", "parse_v2_path",
    "parsed_manifest", "prints_of", "registry_of", "url_base",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
BLOB_KINDS = frozenset({StepKind.CONFIG_BLOB, StepKind.LAYER_BLOB})
MANIFEST_KINDS = frozenset({StepKind.MANIFEST, StepKind.MANIFEST_INDEX, StepKind.MANIFEST_HEAD})
TOKEN_KINDS = frozenset({StepKind.TOKEN, StepKind.LOGIN})

# A token's retry is the challenged request asked again; a client that asks other things
# first (containerd resolves, then fetches) is given this many requests to get to it.
_RETRY_LOOKAHEAD = 4


def parse_v2_path(path: str) -> V2Path | None:
    """The /v2/ API call of a path (kept for callers of the old name; see pulltrace.v2path)."""
    parsed = parse_path(path)
    if parsed is None or parsed.endpoint == "other":
        return None
    if parsed.endpoint == "blob" and not parsed.by_digest:
        return None  # /v2/<name>/blobs/ takes a digest or nothing
    return parsed


def client_host(ex: Exchange) -> str:
    """The client's address without its port: a client opens many connections (one per blob)."""
    return _host_of_address(ex.client)


@lru_cache(maxsize=8192)
def _host_of_address(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":")[0]
    return host


def client_key(ex: Exchange) -> str:
    """Address and User-Agent: a label for who sent a request, not a grouping key (an older
    go-containerregistry sends its ping and token with another User-Agent than its pull)."""
    return f"{client_host(ex)} {ex.request_header('user-agent') or ''}".strip()


def challenges_of(ex: Exchange) -> list[Challenge]:
    """The WWW-Authenticate challenges of a response, parsed once per exchange."""
    values = ex.response_header_all("www-authenticate")
    if not values:
        return []
    cached = ex.__dict__.get("_challenges")
    if cached is not None and cached[0] == values:
        return cached[1]
    try:
        result = parse_www_authenticate(values)
    except ChallengeError:
        # A malformed challenge is a finding for diagnose, not a reason to misclassify.
        result = []
    ex.__dict__["_challenges"] = (values, result)
    return result


def prints_of(ex: Exchange) -> CredentialPrints:
    """The credential prints a source took before masking; for an unmasked exchange none
    took them (the built-in client's own record, shown with --show-secrets), taken now, once.
    A masked exchange without them (a trace read back, a log) has none: the rules that do
    without decide."""
    if ex.prints is not None:
        return ex.prints
    if ex.secrets_masked:
        return NO_PRINTS
    cached = ex.__dict__.get("_prints")
    if cached is None:
        cached = ex.__dict__["_prints"] = credential_prints(ex)
    return cached


def auth_scheme(ex: Exchange) -> str | None:
    """`bearer`, `basic` or None; the empty Basic credentials of skopeo count as none."""
    return authorization_scheme(ex.request_header("authorization"))


def kind_of(step: Step) -> StepKind:
    """What a step asked for, failed or not: a failed step keeps its kind (and its `error`)."""
    return step.kind


def error_text(ex: Exchange) -> str:
    """`404 GET /v2/x/manifests/1: MANIFEST_UNKNOWN`, or `GET /v2/: <transport error>`."""
    path = urlsplit(ex.url).path or "/"
    if ex.status is None:
        return f"{ex.method} {path}: {ex.error or 'no response'}"
    text = f"{ex.status} {ex.method} {path}"
    body = ex.response_json()
    errors = body.get("errors") if body else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("code"):
        text += f": {errors[0]['code']}"
    return text


def manifest_digest(ex: Exchange) -> str | None:
    """The digest of a manifest response: Docker-Content-Digest, else the body's sha256."""
    header = ex.response_header("docker-content-digest")
    if header and is_digest(header.strip()):
        return header.strip()
    if ex.body_sha256:
        return ex.body_sha256 if ":" in ex.body_sha256 else f"sha256:{ex.body_sha256}"
    body = ex.response_body_preview
    if body and ex.response_bytes is not None and len(body.encode()) == ex.response_bytes:
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    return None


_NOT_PARSED = object()


def parsed_manifest(ex: Exchange) -> ParsedManifest | None:
    """The manifest a response body holds, parsed once per exchange."""
    cached = ex.__dict__.get("_parsed_manifest", _NOT_PARSED)
    if cached is not _NOT_PARSED:
        return cached
    result: ParsedManifest | None = None
    body = ex.response_body_preview
    if body and body.lstrip().startswith("{"):
        try:
            result = parse_manifest(body, ex.content_type)
        except ManifestError:
            result = None
    ex.__dict__["_parsed_manifest"] = result
    return result


def _ok(ex: Exchange) -> bool:
    return bool(ex.status and 200 <= ex.status < 300)


@dataclass(frozen=True)
class _Head:
    """What a successful manifest HEAD said: the media type of a reference and its digest."""

    step: Step
    media_type: str
    digest: str | None


@dataclass(eq=False)
class _Redirect:
    step: Step
    client: str
    blob: tuple[str, str, str] | None  # (registry, repository, digest) the chain started from
    followed: bool = False


@dataclass(eq=False)
class _Challenge:
    step: Step
    realm: str
    service: str | None
    scope: str | None
    client: str
    answers: int = 0


@dataclass(eq=False)
class _AwaitingRetry:
    token: Step
    challenge: Step
    key: tuple[str, str]
    seen: int = 0
    first: Step | None = None


@dataclass(frozen=True)
class _Role:
    manifest: Step
    name: str
    media_type: str
    size: int


@dataclass
class _Entries:
    """Index entries one step made, so they can be removed when its pull closes."""

    items: list[tuple[dict[Any, Any], Any, Any]] = field(default_factory=list)


class Classifier:
    """Classifies exchanges one at a time, in the order they happened, with bounded indexes."""

    def __init__(self) -> None:
        self.count = 0
        self.realms: dict[str, int] = {}
        self.redirects: dict[str, list[_Redirect]] = {}
        self.blob_urls: dict[str, _Redirect] = {}
        self.unfollowed: dict[tuple[str, str], list[_Redirect]] = {}
        self.heads: dict[tuple[str, str, str, str], _Head] = {}
        self.challenges: dict[tuple[str, str], list[_Challenge]] = {}  # (realm, client) → unanswered first
        self.by_service: dict[tuple[str, str], list[_Challenge]] = {}
        self.by_realm: dict[str, list[_Challenge]] = {}
        self.awaiting: dict[tuple[str, str], list[_AwaitingRetry]] = {}
        self.indexes: dict[tuple[str, str, str], list[tuple[Step, str]]] = {}
        self.roles: dict[tuple[str, str, str], list[_Role]] = {}
        self.roles_by_digest: dict[str, list[_Role]] = {}
        self.issuers: dict[str, list[Step]] = {}  # token print -> open token steps that issued it
        self._entries: dict[str, _Entries] = {}

    # -- index bookkeeping -----------------------------------------------------------
    def _put(self, step: Step, index: dict[Any, Any], key: Any, value: Any) -> None:
        """Append `value` to `index[key]` (a list), remembered for `forget`."""
        index.setdefault(key, []).append(value)
        self._entries.setdefault(step.id, _Entries()).items.append((index, key, value))

    def _set(self, step: Step, index: dict[Any, Any], key: Any, value: Any) -> None:
        index[key] = value
        self._entries.setdefault(step.id, _Entries()).items.append((index, key, value))

    def forget(self, steps: Iterable[Step]) -> None:
        """Drop every index entry these steps made (their pull closed)."""
        for step in steps:
            entries = self._entries.pop(step.id, None)
            if entries is None:
                continue
            for index, key, value in entries.items:
                current = index.get(key)
                if isinstance(current, list):
                    # By identity: `list.remove` compares entries with ==, and a dataclass
                    # entry's == walks the steps and exchanges it holds (bench/pipeline.py).
                    for i, entry in enumerate(current):
                        if entry is value:
                            del current[i]
                            break
                    if not current:
                        del index[key]
                elif index is self.realms:
                    self.realms[key] -= 1
                    if self.realms[key] <= 0:
                        del self.realms[key]
                elif current is value:
                    del index[key]

    @property
    def indexed_steps(self) -> int:
        """How many steps still hold index entries (for memory checks)."""
        return len(self._entries)

    # -- one exchange ----------------------------------------------------------------
    def add(self, ex: Exchange) -> Step:
        self.count += 1
        step = Step(exchange=ex, index=self.count)
        self._kind(step)
        self._remember(step)
        self._token_links(step)
        self._retry_links(step)
        self._manifest_links(step)
        self._mark_error(step)
        return step

    def flush_retries(self) -> None:
        """At the end of the input: tokens still waiting for their exact retry take the first
        request they saw."""
        for queue in list(self.awaiting.values()):
            for waiting in list(queue):
                if waiting.first is not None:
                    self._link_retry(waiting, waiting.first)
        self.awaiting.clear()

    def _kind(self, step: Step) -> None:
        ex = step.exchange
        parts = urlsplit(ex.url)
        v2 = parse_v2_path(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True)) if parts.query else {}
        if "ns" in query:
            # containerd/cri-o mirror convention: `?ns=<upstream registry>` on every URL.
            step.facts.ns = query["ns"]
        if ex.method.upper() == "CONNECT" or (ex.status is None and ex.error and parts.path in ("", "/")):
            # A connection or TLS failure the proxy saw before any request line.
            step.kind = StepKind.CONNECTION
            step.facts.registry = netloc(ex.url)
            return
        followed = self._follows(step)
        if followed is not None:
            step.links.append(Link("follows", followed.step.id))
            followed.step.links.append(Link("redirects-to", step.id))
            if followed.blob is not None:
                registry, repo, digest = followed.blob
                # A hop that sends the client on again is a redirect wherever it is (a CDN
                # whose origin points back at the registry makes a loop); only the hop that
                # answers with bytes or an error is the download.
                redirects = ex.status in REDIRECT_STATUSES and bool(ex.response_header("location"))
                step.kind = StepKind.BLOB_REDIRECT if redirects else StepKind.CDN_DOWNLOAD
                step.repository, step.reference = repo, digest
                step.facts.registry, step.facts.digest = registry, digest
                return
        if self._is_token(ex, v2, query):
            self._token(step)
            return
        if v2 is None:
            step.kind = StepKind.OTHER
            return
        step.repository = v2.repository
        step.reference = v2.reference
        if followed is not None and followed.step.facts.registry:
            # A manifest redirected to another registry (registry.k8s.io → its backing
            # registry) is still a request to the registry the user pulled from, for the
            # repository they named (the backing registry files it under its own path).
            step.facts.registry = followed.step.facts.registry
            step.facts.served_by = registry_of(ex.url, v2)
            step.repository = followed.step.repository or step.repository
        else:
            step.facts.registry = registry_of(ex.url, v2)
        method = ex.method.upper()
        if v2.endpoint == "ping":
            step.kind = StepKind.LOGIN if auth_scheme(ex) == "basic" else StepKind.PING
            if step.kind is StepKind.LOGIN:
                step.facts.credential_kind = "basic"
        elif v2.endpoint in ("catalog", "tags"):
            step.kind = StepKind.CATALOG
        elif v2.endpoint == "upload":
            step.kind = StepKind.UPLOAD
        elif v2.endpoint == "manifest":
            self._manifest(step, method)
        elif v2.endpoint == "blob":
            if not is_digest(v2.reference):
                step.kind = StepKind.OTHER
            else:
                step.facts.digest = v2.reference
                if method in ("PUT", "POST", "PATCH", "DELETE"):
                    step.kind = StepKind.UPLOAD
                elif method == "HEAD" and ex.status not in REDIRECT_STATUSES:
                    # HEAD on a blob is the push protocol's "does it exist?" check.
                    step.kind = StepKind.UPLOAD
                elif ex.status in REDIRECT_STATUSES:
                    # A log records the 307 but not its Location: still the spec's blob redirect.
                    step.kind = StepKind.BLOB_REDIRECT
                else:
                    step.kind = StepKind.LAYER_BLOB  # its manifest's link names the config blob
        challenges = challenges_of(ex)
        if challenges and ex.status == 401:
            c = challenges[0]
            step.facts.challenge = {"scheme": c.scheme, **c.params}

    def _manifest(self, step: Step, method: str) -> None:
        ex = step.exchange
        step.facts.by = "digest" if is_digest(step.reference) else "tag"
        if method in ("PUT", "DELETE"):
            step.kind = StepKind.UPLOAD
            return
        ok = _ok(ex)
        if method == "HEAD":
            step.kind = StepKind.MANIFEST_HEAD
            if ok and ex.content_type in MANIFEST_TYPES:
                self._remember_head(step)
        else:
            parsed = parsed_manifest(ex)
            media_type = (parsed.media_type if parsed else None) or ex.content_type
            if not (ok and media_type in MANIFEST_TYPES):
                # containerd HEADs the tag, then GETs the digest, which may answer 401 before
                # its token: no body to read, but the HEAD already said what the digest is.
                head = self._head_for(step)
                if head is not None:
                    media_type = head.media_type
                    step.facts.media_type_from = head.step.id
            is_index = (parsed.is_index if parsed else False) or media_type in INDEX_TYPES
            step.kind = StepKind.MANIFEST_INDEX if is_index else StepKind.MANIFEST
            if parsed is not None:
                if parsed.is_index:
                    step.facts.platforms = [str(p) for p in parsed.platforms()]
                else:
                    step.facts.layers = len(parsed.layers)
        if ok:
            step.facts.media_type = ex.content_type
            digest = manifest_digest(ex) or (step.reference if is_digest(step.reference) else None)
            if digest:
                step.facts.digest = digest

    def _head_key(self, step: Step, reference: str) -> tuple[str, str, str, str]:
        # One program's HEAD then GET (containerd): another program on the same host that
        # asks for the same digest has not seen this HEAD.
        return (client_key(step.exchange), step.facts.registry or "", step.repository or "", reference)

    def _remember_head(self, step: Step) -> None:
        ex = step.exchange
        header = (ex.response_header("docker-content-digest") or "").strip()
        digest = header if is_digest(header) else None
        head = _Head(step, ex.content_type or "", digest)
        for reference in {step.reference, digest} - {None}:
            self._set(step, self.heads, self._head_key(step, reference or ""), head)

    def _head_for(self, step: Step) -> _Head | None:
        """The latest HEAD by the same client, on the same repository, of this reference."""
        return self.heads.get(self._head_key(step, step.reference or ""))

    def _is_token(self, ex: Exchange, v2: V2Path | None, query: dict[str, str]) -> bool:
        if v2 is not None and v2.endpoint != "ping" and v2.repository:
            return False
        if url_base(ex.url) in self.realms:
            return True
        # No challenge seen (the capture started late, or the client remembered the
        # realm): a request that asks for a scope or service and gets a token back.
        if ex.method.upper() == "POST" and "grant_type=" in (ex.request_body_preview or ""):
            return True
        if ("scope" in query or "service" in query) and v2 is None:
            body = ex.response_body_preview
            if body is None:
                # An access log or a HAR without bodies: the request alone says it.
                return ex.method.upper() == "GET"
            return '"token"' in body or '"access_token"' in body or (ex.status or 0) in (401, 403)
        return False

    def _token(self, step: Step) -> None:
        ex = step.exchange
        request = read_token_request(ex.url, ex.request_body_preview if ex.method.upper() == "POST" else None)
        scheme = auth_scheme(ex)
        credentials: CredentialKind = "anonymous"
        if scheme == "basic":
            credentials = "basic"
        elif request.grant_type == "password":
            credentials = "password"
        elif request.grant_type == "refresh_token":
            credentials = "refresh_token"
        facts = step.facts
        facts.realm = url_base(ex.url)
        facts.service = request.service
        facts.scopes = list(request.scopes)
        facts.credential_kind = credentials
        facts.account = request.account or None
        facts.client_id = request.client_id or None
        facts.offline_token = bool(request.offline_token)
        facts.grant_type = request.grant_type or None
        body = ex.response_json()
        if body:
            # The token spec's `expires_in` is seconds and `issued_at` an RFC 3339 time; a
            # value of another type says nothing a reader can use.
            expires_in = body.get("expires_in")
            if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
                facts.expires_in = expires_in
            issued_at = body.get("issued_at")
            if isinstance(issued_at, str):
                facts.issued_at = issued_at
            facts.fields = sorted(k for k, v in body.items() if v not in (None, ""))
        if ex.token_claims:
            facts.claims = ex.token_claims
        for text in request.scopes:
            try:
                scope = parse_scope(text)
            except ValueError:
                continue
            if scope.type == "repository":
                step.repository = scope.name
                break
        # `docker login` asks for a token with credentials and no scope (seed 004:
        # account, client_id=docker, offline_token=true, Basic credentials).
        if not request.scopes and credentials != "anonymous":
            step.kind = StepKind.LOGIN
        else:
            step.kind = StepKind.TOKEN

    def _mark_error(self, step: Step) -> None:
        """A failed exchange keeps its kind and says what failed; a first 401 that carries a
        challenge is the protocol's ordinary greeting, not a failure."""
        ex = step.exchange
        status = ex.status
        failed = status is None or status >= 400 or ex.error is not None
        if not failed:
            return
        if (
            status == 401
            and ex.error is None
            and auth_scheme(ex) is None
            and step.kind not in TOKEN_KINDS
            # No response header recorded at all (a server log): the challenge was not
            # missing, it was not logged.
            and (any(c.is_bearer or c.is_basic for c in challenges_of(ex)) or not ex.response_headers)
            and not any(c.error == "insufficient_scope" for c in challenges_of(ex))
        ):
            return
        step.error = error_text(ex)

    def _follows(self, step: Step) -> _Redirect | None:
        ex = step.exchange
        me = client_host(ex)
        candidates = self.redirects.get(ex.url, [])
        chosen = None
        # The oldest redirect to this URL that nobody followed yet, from this client: two
        # pulls of the same image are sent to the same CDN URL.
        agent = ex.request_header("user-agent")
        for redirect in sorted(candidates, key=lambda r: r.step.exchange.request_header("user-agent") != agent):
            # Its own program's redirect first: two programs on one host fetch the same blob.
            if redirect.client == me and not redirect.followed:
                chosen = redirect
                break
        if chosen is None:
            mine = [r for r in candidates if r.client == me]
            chosen = mine[-1] if mine else (candidates[-1] if candidates else None)
        if chosen is None:
            # Without the redirect's Location (an importer lost it), Referer still names
            # the blob URL the client was sent away from (Docker sets it on every hop).
            referer = ex.request_header("referer")
            if referer and referer in self.blob_urls and netloc(referer) != netloc(ex.url):
                chosen = self.blob_urls[referer]
        if chosen is None:
            # A pull tool behind a blob reverse proxy (seed 002's DOCKER_BLOB_REVERSE_PROXY)
            # rewrites the Location before following it; the blob's digest stays in the path.
            digest = digest_in_url(ex.url)
            if digest and parse_v2_path(urlsplit(ex.url).path) is None:
                waiting = self.unfollowed.get((me, digest))
                if waiting:
                    chosen = waiting[-1]
        if chosen is not None:
            chosen.followed = True
        if chosen is not None and chosen.blob is not None:
            waiting = self.unfollowed.get((chosen.client, chosen.blob[2]))
            if waiting and chosen in waiting:
                waiting.remove(chosen)
        return chosen

    def _remember(self, step: Step) -> None:
        ex = step.exchange
        for c in challenges_of(ex):
            if c.is_bearer and c.realm:
                realm = url_base(c.realm)
                self.realms[realm] = self.realms.get(realm, 0) + 1
                self._entries.setdefault(step.id, _Entries()).items.append((self.realms, realm, None))
                if ex.status == 401 or ex.status == 403:
                    entry = _Challenge(step, realm, c.service, c.scope, client_host(ex))
                    self._put(step, self.challenges, (realm, entry.client), entry)
                    self._put(step, self.by_realm, realm, entry)
                    if c.service:
                        self._put(step, self.by_service, (c.service, entry.client), entry)
                break
        location = ex.response_header("location")
        if ex.status in REDIRECT_STATUSES and location:
            target = join_url(ex.url, location.strip())
            blob = None
            if step.kind in (StepKind.BLOB_REDIRECT, StepKind.CDN_DOWNLOAD):
                blob = (step.facts.registry or "", step.repository or "", step.reference or "")
            step.facts.location = target
            redirect = _Redirect(step, client_host(ex), blob)
            self._put(step, self.redirects, target, redirect)
            if blob is not None:
                self._put(step, self.unfollowed, (redirect.client, blob[2]), redirect)
                if step.kind is StepKind.BLOB_REDIRECT:
                    self._set(step, self.blob_urls, ex.url, redirect)
        elif step.kind is StepKind.BLOB_REDIRECT:
            # Location not recorded (a registry log): the download it led to is found by the
            # blob's digest in its path, as for a rewritten Location.
            redirect = _Redirect(step, client_host(ex),
                                 (step.facts.registry or "", step.repository or "", step.reference or ""))
            self._put(step, self.unfollowed, (redirect.client, step.reference or ""), redirect)
            self._set(step, self.blob_urls, ex.url, redirect)

    # -- links -----------------------------------------------------------------------
    def _token_links(self, step: Step) -> None:
        if step.kind not in TOKEN_KINDS or step.facts.realm is None:
            return
        entry = self._find_challenge(step)
        if entry is None:
            return
        entry.answers += 1
        challenge = entry.step
        step.links.append(Link("answers", challenge.id))
        if not step.repository and challenge.repository:
            step.repository = challenge.repository
        if step.facts.registry is None:
            asked = challenge.facts.registry
            step.facts.registry = asked if asked is not None else netloc(challenge.exchange.url)
        if not _ok(step.exchange):
            return  # a refused token is not presented again
        for issued in prints_of(step.exchange).issued:
            self._put(step, self.issuers, issued, step)
        key = (client_host(step.exchange), netloc(challenge.exchange.url))
        queue = self.awaiting.get(key, [])
        for older in [w for w in queue if w.challenge is challenge]:
            queue.remove(older)  # a newer token for the same challenge is the one presented
        self._put(step, self.awaiting, key, _AwaitingRetry(step, challenge, key))

    def _find_challenge(self, token: Step) -> _Challenge | None:
        realm = token.facts.realm or ""
        service = token.facts.service
        scopes = set(token.facts.scopes or ())
        me = client_host(token.exchange)

        def fits(entry: _Challenge) -> bool:
            return not (entry.scope and scopes and entry.scope not in scopes)

        # Same client first, then any; the realm the challenge named first, then (for a
        # tool that sends token requests through its own auth proxy, seed 002) the service.
        pools = [self.challenges.get((realm, me), [])]
        if service:
            pools.append(self.by_service.get((service, me), []))
        pools.append(self.by_realm.get(realm, []))
        for pool in pools:
            # A challenge for exactly the token's scope, the latest first (a client asks for
            # its token right after the challenge); else the oldest unanswered one (two pulls
            # that pinged at once each answer their own ping, in order); else the latest
            # answered again (containerd's fetcher asks twice for the same challenge).
            for entry in reversed(pool):
                if entry.answers == 0 and entry.scope and entry.scope in scopes:
                    return entry
            again = None
            # Two programs on one host that pinged at once: its own program's ping first.
            agent = token.exchange.request_header("user-agent") or ""
            for entry in pool:
                if entry.answers == 0 and fits(entry) and entry.step.exchange.request_header("user-agent") == agent:
                    return entry
            for entry in pool:
                if not fits(entry):
                    continue
                if entry.answers == 0:
                    return entry
                again = entry
            if again is not None:
                return again
        return None

    def _retry_links(self, step: Step) -> None:
        ex = step.exchange
        if step.kind in TOKEN_KINDS or auth_scheme(ex) not in ("bearer",):
            return
        queue = self.awaiting.get((client_host(ex), netloc(ex.url)))
        if not queue:
            return
        presented = prints_of(ex).presented
        if presented is not None and len(self.issuers.get(presented, ())) == 1:
            # The token itself says which token response this request retries (two skopeo at
            # once, one User-Agent, one scope). A token service that hands one token to
            # several requests (a static token) makes it no link: the rules below decide.
            for waiting in queue:
                if presented in prints_of(waiting.token.exchange).issued:
                    self._link_retry(waiting, step)
                    return
        if presented is not None:
            # A token whose print is known and differs was not presented here, whatever the order.
            queue = [w for w in queue if not prints_of(w.token.exchange).issued
                     or presented in prints_of(w.token.exchange).issued]
            if not queue:
                return
        # Two programs on one host waiting at once: the token its own program fetched first
        # (an older crane fetches it with another User-Agent: then any).
        agent = ex.request_header("user-agent") or ""
        ordered = sorted(queue, key=lambda w: (w.token.exchange.request_header("user-agent") or "") != agent)
        for waiting in ordered:
            challenge = waiting.challenge.exchange
            if ex.url == challenge.url and ex.method == challenge.method:
                self._link_retry(waiting, step)
                return
        for waiting in ordered:
            challenged = parse_v2_path(urlsplit(waiting.challenge.exchange.url).path)
            if challenged is not None and challenged.endpoint == "ping":
                # A challenge on the ping is retried by whatever the client asks next; by
                # another program's request only if that opens a pull (its blobs come after
                # a manifest it already had a token for).
                own = (waiting.token.exchange.request_header("user-agent") or "") == agent
                if own or step.kind in MANIFEST_KINDS or step.kind is StepKind.CATALOG:
                    self._link_retry(waiting, step)
                    return
        for waiting in list(queue):
            waiting.seen += 1
            if waiting.first is None:
                waiting.first = step
                break
        for waiting in list(queue):
            if waiting.seen >= _RETRY_LOOKAHEAD and waiting.first is not None:
                self._link_retry(waiting, waiting.first)

    def _link_retry(self, waiting: _AwaitingRetry, retry: Step) -> None:
        waiting.token.links.append(Link("retried-by", retry.id))
        retry.links.append(Link("retries", waiting.challenge.id, note=f"with token from {waiting.token.id}"))
        queue = self.awaiting.get(waiting.key)
        if queue and waiting in queue:
            queue.remove(waiting)

    def _manifest_links(self, step: Step) -> None:
        ex = step.exchange
        registry, repository = step.facts.registry or "", step.repository or ""
        if step.kind is StepKind.MANIFEST_INDEX:
            parsed = parsed_manifest(ex)
            if parsed is not None:
                for descriptor in parsed.manifests:
                    platform = str(descriptor.platform) if descriptor.platform else ""
                    self._put(step, self.indexes, (registry, repository, descriptor.digest), (step, platform))
        elif step.kind in (StepKind.MANIFEST, StepKind.MANIFEST_HEAD):
            digest = step.facts.digest or (step.reference if is_digest(step.reference) else None)
            if digest:
                self._link_index(step, registry, repository, digest)
            if step.kind is StepKind.MANIFEST:
                parsed = parsed_manifest(ex)
                if parsed is not None and not parsed.is_index:
                    self._register_blobs(step, parsed, registry, repository)
        elif step.kind in BLOB_KINDS or step.kind in (StepKind.BLOB_REDIRECT, StepKind.CDN_DOWNLOAD):
            digest = step.facts.digest or step.reference
            if not digest:
                return
            role = self._role_of(step, registry, repository, digest)
            if role is None:
                return
            step.role = role.name
            step.links.append(Link("blob-of", role.manifest.id, note=role.name))
            step.facts.expected_media_type, step.facts.expected_size = role.media_type, role.size
            if role.name == "config" and step.kind is StepKind.LAYER_BLOB:
                step.kind = StepKind.CONFIG_BLOB

    def _role_of(self, step: Step, registry: str, repository: str, digest: str) -> _Role | None:
        me = client_host(step.exchange)
        for pool in (self.roles.get((registry, repository, digest)), self.roles_by_digest.get(digest)):
            if pool:
                for role in reversed(pool):
                    if client_host(role.manifest.exchange) == me:
                        return role
                return pool[-1]
        return None

    def _link_index(self, step: Step, registry: str, repository: str, digest: str) -> None:
        candidates = self.indexes.get((registry, repository, digest))
        if not candidates:
            return
        me = client_host(step.exchange)
        chosen = next((c for c in reversed(candidates) if client_host(c[0].exchange) == me), candidates[-1])
        index, platform = chosen
        step.links.append(Link("chosen-from", index.id, note=platform))
        index.links.append(Link("chooses", step.id, note=platform))
        if platform:
            step.facts.platform = platform

    def _register_blobs(self, step: Step, parsed: ParsedManifest, registry: str, repository: str) -> None:
        entries = []
        if parsed.config is not None:
            entries.append((parsed.config, "config"))
        total = len(parsed.layers)
        for n, layer in enumerate(parsed.layers, start=1):
            entries.append((layer, f"layer {n}/{total}"))
        for descriptor, name in entries:
            role = _Role(step, name, descriptor.media_type, descriptor.size)
            self._put(step, self.roles, (registry, repository, descriptor.digest), role)
            self._put(step, self.roles_by_digest, descriptor.digest, role)


def classify(exchanges: Iterable[Exchange]) -> list[Step]:
    """Every exchange as a Step, in time order, with its kind and links."""
    ordered = sorted(exchanges, key=lambda e: e.started_at)
    c = Classifier()
    steps = [c.add(ex) for ex in ordered]
    c.flush_retries()
    return steps
