"""Exchange -> Step: what each request means in the registry protocol, and how steps relate.

Only protocol facts are used, never hostnames: the /v2/ path grammar (after any path
prefix a reverse proxy adds), the realms named by WWW-Authenticate challenges, Location
chains and Referer, content types, digests, and mirror parameters (`?ns=`). CDN and auth
hosts differ between every registry, so a request is a token request because an earlier
challenge named its URL as realm, and a CDN download because an earlier redirect pointed
at it.

`classify(exchanges)` works in two passes over the exchanges in time order: the first
gives every exchange its kind, the second its links (token -> challenge and retry,
index -> chosen manifest, blob -> its role in a manifest).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import parse_qsl, urljoin, urlsplit

from pulltrace.auth import Challenge, ChallengeError, parse_scope, parse_www_authenticate, read_token_request
from pulltrace.manifest import INDEX_TYPES, MANIFEST_TYPES, ManifestError, ParsedManifest, parse_manifest
from pulltrace.model import Exchange, Link, Step, StepKind

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
BLOB_KINDS = frozenset({StepKind.CONFIG_BLOB, StepKind.LAYER_BLOB})

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_DIGEST_IN_TEXT_RE = re.compile(r"sha256[:/](?:[a-f0-9]{2}/)?([a-f0-9]{64})")
_V2_RE = re.compile(r"^(?P<prefix>.*?)/v2(?:/(?P<rest>.*))?$")
_ENDPOINT_RE = re.compile(r"^(?P<name>.+)/(?P<op>manifests|blobs|tags)/(?P<ref>[^/]+)$")
_UPLOAD_RE = re.compile(r"^(?P<name>.+)/blobs/uploads(?:/(?P<uuid>[^/]*))?$")


@dataclass(frozen=True)
class V2Path:
    """A registry API path: `[prefix]/v2/<name>/<endpoint>/<reference>`."""

    prefix: str
    endpoint: str  # ping | catalog | tags | manifest | blob | upload
    repository: str | None = None
    reference: str | None = None


def parse_v2_path(path: str) -> V2Path | None:
    """Read the distribution API grammar off a path, after any reverse-proxy prefix.

    seed 002's nginx puts the registry under `/docker-registry/`, so the grammar is
    matched after the first `/v2/`. gcr's `/v2/token` and quay's `/v2/auth` realms are
    not API endpoints and do not match.
    """
    m = _V2_RE.match(path)
    if not m:
        return None
    prefix, rest = m.group("prefix"), m.group("rest")
    if rest is None or rest == "":
        return V2Path(prefix, "ping")
    if rest == "_catalog":
        return V2Path(prefix, "catalog")
    up = _UPLOAD_RE.match(rest)
    if up and _NAME_RE.match(up.group("name")):
        return V2Path(prefix, "upload", up.group("name"), up.group("uuid") or None)
    em = _ENDPOINT_RE.match(rest)
    if not em or not _NAME_RE.match(em.group("name")):
        return None
    name, op, ref = em.group("name"), em.group("op"), em.group("ref")
    if op == "tags":
        return V2Path(prefix, "tags", name, ref) if ref == "list" else None
    if op == "blobs":
        return V2Path(prefix, "blob", name, ref) if _DIGEST_RE.match(ref) else None
    return V2Path(prefix, "manifest", name, ref)


def is_digest(reference: str | None) -> bool:
    return bool(reference and _DIGEST_RE.match(reference))


def client_key(ex: Exchange) -> str:
    """Who sent this: the client's address without its port, and its User-Agent.

    A client opens many connections (one per blob, in parallel), so the port says
    nothing; two clients on one machine differ by User-Agent.
    """
    host = ex.client
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return f"{host} {ex.request_header('user-agent') or ''}".strip()


def url_base(url: str) -> str:
    """scheme://host/path without query: what a realm is compared by."""
    parts = urlsplit(url)
    port = parts.port
    netloc = parts.hostname or ""
    if port and not ((parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)):
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme.lower()}://{netloc.lower()}{parts.path or '/'}"


def registry_of(ex: Exchange, v2: V2Path | None) -> str:
    """host[:port][/prefix] — the registry a /v2/ request talks to."""
    netloc = urlsplit(ex.url).netloc.lower()
    return netloc + (v2.prefix if v2 else "")


def challenges_of(ex: Exchange) -> list[Challenge]:
    values = ex.response_header_all("www-authenticate")
    if not values:
        return []
    try:
        return parse_www_authenticate(values)
    except ChallengeError:
        # A malformed challenge is a finding for diagnose, not a reason to misclassify.
        return []


def auth_scheme(ex: Exchange) -> str | None:
    value = ex.request_header("authorization")
    return value.split(" ", 1)[0].lower() if value else None


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


def parsed_manifest(ex: Exchange) -> ParsedManifest | None:
    body = ex.response_body_preview
    if not body or not body.lstrip().startswith("{"):
        return None
    try:
        return parse_manifest(body, ex.content_type)
    except ManifestError:
        return None


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


class _Classifier:
    def __init__(self, exchanges: list[Exchange]) -> None:
        self.exchanges = exchanges
        self.steps: list[Step] = []
        self.realms: set[str] = set()
        self.redirects: dict[str, list[_Redirect]] = {}
        self.blob_urls: dict[str, _Redirect] = {}
        self.unfollowed: list[_Redirect] = []
        self.heads: dict[tuple[str, str, str], list[_Head]] = {}

    # -- pass 1: kinds ---------------------------------------------------------------
    def kinds(self) -> None:
        for i, ex in enumerate(self.exchanges, start=1):
            step = Step(exchange=ex, index=i)
            self._kind(step)
            self._remember(step)
            self.steps.append(step)

    def _kind(self, step: Step) -> None:
        ex = step.exchange
        parts = urlsplit(ex.url)
        v2 = parse_v2_path(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "ns" in query:
            # containerd/cri-o mirror convention: `?ns=<upstream registry>` on every URL.
            step.info["ns"] = query["ns"]
        followed = self._follows(step)
        if followed is not None:
            if followed in self.unfollowed:
                self.unfollowed.remove(followed)
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
                step.info.update(registry=registry, digest=digest)
                self._mark_error(step)
                return
        if self._is_token(ex, v2, query):
            self._token(step)
            return
        if v2 is None:
            step.kind = StepKind.OTHER
            self._mark_error(step)
            return
        step.repository = v2.repository
        step.reference = v2.reference
        step.info["registry"] = registry_of(ex, v2)
        method = ex.method.upper()
        if v2.endpoint == "ping":
            step.kind = StepKind.LOGIN if auth_scheme(ex) == "basic" else StepKind.PING
            if step.kind is StepKind.LOGIN:
                step.info["credentials"] = "basic"
        elif v2.endpoint in ("catalog", "tags"):
            step.kind = StepKind.CATALOG
        elif v2.endpoint == "upload":
            step.kind = StepKind.UPLOAD
        elif v2.endpoint == "manifest":
            self._manifest(step, method)
        elif v2.endpoint == "blob":
            step.info["digest"] = v2.reference
            if method in ("PUT", "POST", "PATCH", "DELETE"):
                step.kind = StepKind.UPLOAD
            elif method == "HEAD" and ex.status not in REDIRECT_STATUSES:
                # HEAD on a blob is the push protocol's "does it exist?" check.
                step.kind = StepKind.UPLOAD
            elif ex.status in REDIRECT_STATUSES:
                # A log records the 307 but not its Location: still the spec's blob redirect.
                step.kind = StepKind.BLOB_REDIRECT
            else:
                step.kind = StepKind.LAYER_BLOB  # pass 2 names the config blob
        challenges = challenges_of(ex)
        if challenges and ex.status == 401:
            c = challenges[0]
            step.info["challenge"] = {"scheme": c.scheme, **c.params}
        self._mark_error(step)

    def _manifest(self, step: Step, method: str) -> None:
        ex = step.exchange
        step.info["by"] = "digest" if is_digest(step.reference) else "tag"
        if method in ("PUT", "DELETE"):
            step.kind = StepKind.UPLOAD
            return
        ok = bool(ex.status and 200 <= ex.status < 300)
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
                    step.info["media_type_from"] = head.step.id
            is_index = (parsed.is_index if parsed else False) or media_type in INDEX_TYPES
            step.kind = StepKind.MANIFEST_INDEX if is_index else StepKind.MANIFEST
            if parsed is not None:
                if parsed.is_index:
                    step.info["platforms"] = [str(p) for p in parsed.platforms()]
                else:
                    step.info["layers"] = len(parsed.layers)
        if ok:
            step.info["media_type"] = ex.content_type
            digest = manifest_digest(ex) or (step.reference if is_digest(step.reference) else None)
            if digest:
                step.info["digest"] = digest

    def _head_key(self, step: Step) -> tuple[str, str, str]:
        return (client_key(step.exchange), step.info.get("registry", ""), step.repository or "")

    def _remember_head(self, step: Step) -> None:
        ex = step.exchange
        header = (ex.response_header("docker-content-digest") or "").strip()
        digest = header if is_digest(header) else None
        self.heads.setdefault(self._head_key(step), []).append(_Head(step, ex.content_type or "", digest))

    def _head_for(self, step: Step) -> _Head | None:
        """The latest HEAD by the same client, on the same repository, of this reference."""
        for head in reversed(self.heads.get(self._head_key(step), [])):
            if step.reference in (head.step.reference, head.digest):
                return head
        return None

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
        credentials = "anonymous"
        if scheme == "basic":
            credentials = "basic"
        elif request.grant_type in ("password", "refresh_token"):
            credentials = request.grant_type
        step.info.update(
            realm=url_base(ex.url),
            service=request.service,
            scopes=list(request.scopes),
            credentials=credentials,
        )
        if request.account:
            step.info["account"] = request.account
        if request.client_id:
            step.info["client_id"] = request.client_id
        if request.offline_token:
            step.info["offline_token"] = True
        if request.grant_type:
            step.info["grant_type"] = request.grant_type
        body = ex.response_json()
        if body:
            for key in ("expires_in", "issued_at"):
                if key in body:
                    step.info[key] = body[key]
            step.info["fields"] = sorted(k for k, v in body.items() if v not in (None, ""))
        if ex.token_claims:
            step.info["claims"] = ex.token_claims
        repos = []
        for text in request.scopes:
            try:
                scope = parse_scope(text)
            except ValueError:
                continue
            if scope.type == "repository":
                repos.append(scope.name)
        if repos:
            step.repository = repos[0]
        # `docker login` asks for a token with credentials and no scope (seed 004:
        # account, client_id=docker, offline_token=true, Basic credentials).
        if not request.scopes and credentials != "anonymous":
            step.kind = StepKind.LOGIN
        else:
            step.kind = StepKind.TOKEN
        self._mark_error(step)

    def _mark_error(self, step: Step) -> None:
        """Failed exchanges are errors; a first 401 that carries a challenge is not."""
        ex = step.exchange
        status = ex.status
        failed = status is None or status >= 400 or ex.error is not None
        if not failed:
            return
        if (
            status == 401
            and ex.error is None
            and ex.request_header("authorization") is None
            and step.kind not in (StepKind.TOKEN, StepKind.LOGIN)
            # No response header recorded at all (a server log): the challenge was not
            # missing, it was not logged.
            and (any(c.is_bearer or c.is_basic for c in challenges_of(ex)) or not ex.response_headers)
            and not any(c.error == "insufficient_scope" for c in challenges_of(ex))
        ):
            return
        step.info["intended"] = str(step.kind)
        step.kind = StepKind.ERROR

    def _follows(self, step: Step) -> _Redirect | None:
        ex = step.exchange
        me = client_key(ex)
        candidates = self.redirects.get(ex.url, [])
        for redirect in reversed(candidates):
            if redirect.client == me:
                return redirect
        if candidates:
            return candidates[-1]
        # Without the redirect's Location (an importer lost it), Referer still names
        # the blob URL the client was sent away from (Docker sets it on every hop).
        referer = ex.request_header("referer")
        if referer and referer in self.blob_urls and urlsplit(referer).netloc != urlsplit(ex.url).netloc:
            return self.blob_urls[referer]
        # A pull tool behind a blob reverse proxy (seed 002's DOCKER_BLOB_REVERSE_PROXY)
        # rewrites the Location before following it; the blob's digest stays in the path.
        digest = digest_in_url(ex.url)
        if digest and parse_v2_path(urlsplit(ex.url).path) is None:
            for redirect in reversed(self.unfollowed):
                if redirect.client == me and redirect.blob is not None and redirect.blob[2] == digest:
                    return redirect
        return None

    def _remember(self, step: Step) -> None:
        ex = step.exchange
        for c in challenges_of(ex):
            if c.is_bearer and c.realm:
                self.realms.add(url_base(c.realm))
        location = ex.response_header("location")
        if ex.status in REDIRECT_STATUSES and location:
            target = urljoin(ex.url, location.strip())
            blob = None
            if step.kind is StepKind.BLOB_REDIRECT:
                blob = (step.info.get("registry", ""), step.repository or "", step.reference or "")
            elif step.kind is StepKind.CDN_DOWNLOAD or step.info.get("intended") == str(StepKind.CDN_DOWNLOAD):
                blob = (step.info.get("registry", ""), step.repository or "", step.reference or "")
            step.info["location"] = target
            redirect = _Redirect(step, client_key(ex), blob)
            self.redirects.setdefault(target, []).append(redirect)
            if blob is not None:
                self.unfollowed.append(redirect)
                if step.kind is StepKind.BLOB_REDIRECT:
                    self.blob_urls[ex.url] = redirect
        elif step.kind is StepKind.BLOB_REDIRECT:
            # Location not recorded (a registry log): the download it led to is found by
            # the blob's digest in its path, as for a rewritten Location.
            redirect = _Redirect(step, client_key(ex), (step.info.get("registry", ""), step.repository or "",
                                                        step.reference or ""))
            self.unfollowed.append(redirect)
            self.blob_urls[ex.url] = redirect

    # -- pass 2: links ---------------------------------------------------------------
    def links(self) -> None:
        self._token_links()
        self._manifest_links()

    def _token_links(self) -> None:
        answered: set[str] = set()
        for pos, step in enumerate(self.steps):
            if step.kind not in (StepKind.TOKEN, StepKind.LOGIN) and step.info.get("intended") not in (
                "token",
                "login",
            ):
                continue
            if "realm" not in step.info:
                continue
            me = client_key(step.exchange)
            challenge = self._find_challenge(pos, step, me, answered)
            if challenge is None:
                continue
            answered.add(challenge.id)
            step.links.append(Link("answers", challenge.id))
            retry = self._find_retry(pos, step, challenge, me)
            if retry is not None:
                step.links.append(Link("retried-by", retry.id))
                retry.links.append(Link("retries", challenge.id, note=f"with token from {step.id}"))
            if not step.repository and challenge.repository:
                step.repository = challenge.repository
            step.info.setdefault("registry", challenge.info.get("registry", urlsplit(challenge.exchange.url).netloc))

    def _find_challenge(self, pos: int, token: Step, me: str, answered: set[str]) -> Step | None:
        realm = token.info["realm"]
        service = token.info.get("service")
        scopes = set(token.info.get("scopes", []))
        best: Step | None = None
        # Same client first, then any; the realm the challenge named first, then (for a
        # tool that sends token requests through its own auth proxy, seed 002) the service.
        for other, by_realm in ((True, True), (True, False), (False, True)):
            for prev in reversed(self.steps[:pos]):
                if (client_key(prev.exchange) == me) != other:
                    continue
                challenge = prev.info.get("challenge")
                if not challenge or challenge.get("scheme") != "bearer":
                    continue
                if by_realm and url_base(challenge.get("realm", "")) != realm:
                    continue
                if not by_realm and not (service and challenge.get("service") == service):
                    continue
                if challenge.get("scope") and scopes and challenge["scope"] not in scopes:
                    continue
                if prev.id in answered and best is None:
                    best = prev  # a second token for the same challenge (containerd's fetcher)
                    continue
                if prev.id not in answered:
                    return prev
            if best is not None:
                return best
        return None

    def _find_retry(self, pos: int, token: Step, challenge: Step, me: str) -> Step | None:
        host = urlsplit(challenge.exchange.url).netloc
        later = [
            s
            for s in self.steps[pos + 1 :]
            if client_key(s.exchange) == me
            and urlsplit(s.exchange.url).netloc == host
            and auth_scheme(s.exchange) == "bearer"
            and s.kind not in (StepKind.TOKEN, StepKind.LOGIN)
        ]
        for s in later[:4]:
            if s.exchange.url == challenge.exchange.url and s.exchange.method == challenge.exchange.method:
                return s
        return later[0] if later else None

    def _manifest_links(self) -> None:
        indexes: dict[tuple[str, str], list[tuple[Step, ParsedManifest]]] = {}
        roles: dict[tuple[str, str, str], tuple[Step, str, str, int]] = {}
        by_digest: dict[str, tuple[Step, str, str, int]] = {}
        for step in self.steps:
            ex = step.exchange
            key = (step.info.get("registry", ""), step.repository or "")
            if step.kind is StepKind.MANIFEST_INDEX:
                parsed = parsed_manifest(ex)
                if parsed is not None:
                    indexes.setdefault(key, []).append((step, parsed))
            elif step.kind in (StepKind.MANIFEST, StepKind.MANIFEST_HEAD):
                digest = step.info.get("digest") or (step.reference if is_digest(step.reference) else None)
                if digest:
                    self._link_index(step, digest, indexes.get(key, []))
                if step.kind is StepKind.MANIFEST:
                    parsed = parsed_manifest(ex)
                    if parsed is not None and not parsed.is_index:
                        self._register_blobs(step, parsed, key, roles, by_digest)
            elif step.kind in BLOB_KINDS or step.kind in (StepKind.BLOB_REDIRECT, StepKind.CDN_DOWNLOAD) or (
                step.kind is StepKind.ERROR and step.info.get("digest")
            ):
                digest = step.info.get("digest") or step.reference
                if not digest:
                    continue
                role = roles.get((step.info.get("registry", ""), step.repository or "", digest)) or by_digest.get(
                    digest
                )
                if role is None:
                    continue
                manifest, name, media_type, size = role
                step.role = name
                step.links.append(Link("blob-of", manifest.id, note=name))
                step.info.update(expected_media_type=media_type, expected_size=size)
                if name == "config" and step.kind is StepKind.LAYER_BLOB:
                    step.kind = StepKind.CONFIG_BLOB

    def _link_index(self, step: Step, digest: str, candidates: list[tuple[Step, ParsedManifest]]) -> None:
        me = client_key(step.exchange)
        ordered = sorted(candidates, key=lambda c: client_key(c[0].exchange) != me)
        for index, parsed in reversed(ordered):
            for descriptor in parsed.manifests:
                if descriptor.digest == digest:
                    platform = str(descriptor.platform) if descriptor.platform else ""
                    step.links.append(Link("chosen-from", index.id, note=platform))
                    index.links.append(Link("chooses", step.id, note=platform))
                    if platform:
                        step.info["platform"] = platform
                    return

    def _register_blobs(
        self,
        step: Step,
        parsed: ParsedManifest,
        key: tuple[str, str],
        roles: dict[tuple[str, str, str], tuple[Step, str, str, int]],
        by_digest: dict[str, tuple[Step, str, str, int]],
    ) -> None:
        entries = []
        if parsed.config is not None:
            entries.append((parsed.config, "config"))
        total = len(parsed.layers)
        for n, layer in enumerate(parsed.layers, start=1):
            entries.append((layer, f"layer {n}/{total}"))
        for descriptor, name in entries:
            value = (step, name, descriptor.media_type, descriptor.size)
            roles[(key[0], key[1], descriptor.digest)] = value
            by_digest.setdefault(descriptor.digest, value)


def classify(exchanges: Iterable[Exchange]) -> list[Step]:
    """Every exchange as a Step, in time order, with its kind and links."""
    ordered = sorted(exchanges, key=lambda e: e.started_at)
    c = _Classifier(ordered)
    c.kinds()
    c.links()
    return c.steps


def digest_in_url(url: str) -> str | None:
    """A sha256 digest named in a URL path (registry blob path or a storage layout)."""
    m = _DIGEST_IN_TEXT_RE.search(urlsplit(url).path)
    return f"sha256:{m.group(1)}" if m else None
