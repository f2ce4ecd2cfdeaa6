"""Teaching mode (`--explain`, issue 16): each step of a pull told in one or two plain
sentences, the way seed 003 explains a Harbor log line by line, in English or Chinese.

Data first: `explain_session` turns a Session into (step id, sentences, glossary terms)
plus the session's open questions answered from the trace (which layers the client
already had, how many downloads ran at once); the views only lay it out. Sentences are
composed from the step's facts, never canned per kind, and a fact the trace does not hold
is left out, not guessed.

Every read of a Step's or Exchange's fields goes through the accessors in the first part
of this module, so a change in how the engine carries step facts is fixed in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qsl, urlsplit

from pulltrace.auth import parse_www_authenticate
from pulltrace.manifest import ManifestError, ParsedManifest, parse_manifest
from pulltrace.model import Session, Step, StepKind
from pulltrace.render import fmt
from pulltrace.render.i18n import Translate, translator
from pulltrace.render.rows import status_text


@dataclass(frozen=True)
class StepExplanation:
    """What one step means, in sentences, and the glossary terms those sentences use."""

    step_id: str
    number: int
    sentences: tuple[str, ...]
    terms: tuple[str, ...]


@dataclass(frozen=True)
class SessionExplanation:
    steps: tuple[StepExplanation, ...]
    # Seed 003's open questions answered from this session's evidence (none when it has none).
    notes: tuple[str, ...]
    terms: tuple[str, ...]

    @cached_property
    def _by_id(self) -> dict[str, StepExplanation]:
        return {s.step_id: s for s in self.steps}

    def of(self, step_id: str) -> StepExplanation | None:
        """The explanation of one step (a view asks once per row: indexed, not searched)."""
        return self._by_id.get(step_id)


# -- facts: the only reads of Step and Exchange fields ---------------------------------------

BLOB_BODY_KINDS = frozenset({StepKind.CONFIG_BLOB, StepKind.LAYER_BLOB, StepKind.CDN_DOWNLOAD})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Query parameters that make a URL a signed one (S3, GCS, Azure, CloudFront, Aliyun OSS,
# UCloud as in seed 000, Docker Hub's Cloudflare `verify=`).
SIGNATURE_PARAMS = frozenset({"signature", "x-amz-signature", "x-goog-signature", "sig", "verify",
                              "ossaccesskeyid", "ucloudpublickey"})
# Lifetimes a signed URL states in seconds (the absolute `Expires=` is masked in traces).
EXPIRY_PARAMS = ("x-amz-expires", "x-goog-expires")


def status_of(step: Step) -> int | None:
    return step.exchange.status


def ok(step: Step) -> bool:
    status = status_of(step)
    return status is not None and 200 <= status < 300


def host_of(step: Step) -> str:
    return fmt.host_of(step.exchange.url)


def path_of(step: Step) -> str:
    """The path without its query: a sentence names what was asked, and a query may carry a
    signature or a token the views mask but a sentence would not."""
    return fmt.path_of(step.exchange.url).partition("?")[0]


def failure_of(step: Step) -> str | None:
    """What failed, when the step failed (an ordinary first 401 challenge is no failure)."""
    return step.error


def challenge_of(step: Step) -> dict[str, str] | None:
    """The first challenge of a 401/403: scheme and parameters (realm, service, scope, error)."""
    found = step.facts.challenge
    if found is not None:
        return dict(found)
    values = step.exchange.response_header_all("www-authenticate")
    try:
        challenges = parse_www_authenticate(values) if values else []
    except ValueError:
        return None
    if not challenges:
        return None
    return {"scheme": challenges[0].scheme, **challenges[0].params}


def sent_authorization(step: Step) -> str | None:
    """The scheme of the Authorization the client sent (bearer, basic), None without one."""
    value = step.exchange.request_header("authorization")
    return value.split(" ", 1)[0].lower() if value else None


def token_grants(step: Step) -> list[tuple[str, list[str]]] | None:
    """(name, actions) per access entry of the token the step received, from its decoded claims."""
    claims = step.facts.claims or step.exchange.token_claims
    access = claims.get("access") if isinstance(claims, dict) else None
    if not isinstance(access, list):
        return None
    out = []
    for entry in access:
        if isinstance(entry, dict):
            # Claims are the token service's JSON: `actions` that is not a list grants nothing.
            actions = entry.get("actions")
            out.append((str(entry.get("name", "")), [str(a) for a in actions] if isinstance(actions, list) else []))
    return out


def manifest_of(step: Step) -> ParsedManifest | None:
    body = step.exchange.response_body_preview
    if not body or not ok(step):
        return None
    try:
        return parse_manifest(body, step.exchange.content_type)
    except ManifestError:
        return None


def schema1_layers(step: Step) -> int | None:
    """How many fsLayers a schema 1 manifest names (the parser keeps none: seed 003's shape)."""
    body = step.exchange.response_json()
    layers = body.get("fsLayers") if body else None
    return len(layers) if isinstance(layers, list) else None


def registry_error(step: Step) -> tuple[str, str] | None:
    """(code, message) of the registry's JSON error body (`{"errors": [{"code": …}]}`)."""
    body = step.exchange.response_json()
    errors = body.get("errors") if body else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("code"):
        return str(errors[0]["code"]), str(errors[0].get("message") or "").strip().rstrip(".")
    # Object stores answer in XML (S3, GCS, OSS: <Error><Code>AccessDenied</Code><Message>…).
    text = step.exchange.response_body_preview or ""
    code = re.search(r"<Code>([^<]{1,80})</Code>", text)
    if code:
        message = re.search(r"<Message>([^<]{0,200})</Message>", text)
        return code.group(1).strip(), (message.group(1).strip().rstrip(".") if message else "")
    return None


def location_of(step: Step) -> str | None:
    return step.facts.location or step.exchange.response_header("location")


def linked(step: Step, rel: str) -> list[str]:
    return step.linked(rel)


def span_of(step: Step) -> tuple[float, float] | None:
    """(start, end) in seconds, None when the trace has no duration for it."""
    duration = step.exchange.duration_ms
    if duration is None:
        return None
    start = step.exchange.started_at
    return start, start + duration / 1000.0


# -- wording helpers ---------------------------------------------------------------------------

def _strip_scheme(url: str) -> str:
    return re.sub(r"^[a-z][a-z0-9+.-]*://", "", url, flags=re.I).rstrip("/")


def _media(media_type: str | None, t: Translate) -> str:
    names = {
        "application/vnd.docker.distribution.manifest.v2+json": "x_mt_docker_manifest",
        "application/vnd.docker.distribution.manifest.list.v2+json": "x_mt_docker_list",
        "application/vnd.oci.image.manifest.v1+json": "x_mt_oci_manifest",
        "application/vnd.oci.image.index.v1+json": "x_mt_oci_index",
        "application/vnd.docker.distribution.manifest.v1+json": "x_mt_schema1",
        "application/vnd.docker.distribution.manifest.v1+prettyjws": "x_mt_schema1",
    }
    key = names.get((media_type or "").lower())
    return t(key) if key else t("x_mt_other", type=media_type or "?")


def _role(role: str | None, t: Translate) -> str | None:
    if not role:
        return None
    if role == "config":
        return t("x_role_config")
    m = re.fullmatch(r"layer (\d+)/(\d+)", role)
    return t("x_role_layer", n=m.group(1), total=m.group(2)) if m else role


def _status(step: Step) -> str:
    return status_text(step.exchange) or "?"


def _signed(url: str, started_at: float, t: Translate) -> str:
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    if not SIGNATURE_PARAMS & set(query):
        return ""
    for key in EXPIRY_PARAMS:
        if query.get(key, "").isdigit():
            return t("x_signed_valid", minutes=_minutes(int(query[key])))
    expires = query.get("expires", "")
    if expires.isdigit() and int(expires) > started_at:
        return t("x_signed_valid", minutes=_minutes(int(expires) - int(started_at)))
    return t("x_signed")


def _minutes(seconds: int) -> str:
    minutes = seconds / 60
    return str(int(minutes)) if minutes == int(minutes) else f"{minutes:.1f}"


class _Context:
    """A session's steps by number and by id, read once per session."""

    def __init__(self, session: Session, t: Translate) -> None:
        self.session = session
        self.t = t
        self.numbers = {step.id: n for n, step in enumerate(session.steps, 1)}
        self.by_id = {step.id: step for step in session.steps}
        # A later identical request (same method, same URL) repeats a failed one.
        self.again: dict[str, str] = {}
        self.again_of: dict[str, str] = {}
        last: dict[tuple[str, str], Step] = {}
        for step in session.steps:
            key = (step.exchange.method.upper(), step.exchange.url)
            before = last.get(key)
            if before is not None and failure_of(before) and before.id not in self.again:
                self.again[before.id] = step.id
                self.again_of[step.id] = before.id
            last[key] = step
        self.token_for: dict[str, str] = {}
        for step in session.steps:
            for target in linked(step, "retried-by"):
                self.token_for.setdefault(target, step.id)
        # Indexes built once, so explaining a session is linear in its steps: the blobs each
        # manifest names, the first step that asked for each URL, manifests by reference.
        self.blobs_of: dict[str, list[Step]] = {}
        self.first_at_url: dict[str, Step] = {}
        self.manifests_by_ref: dict[str, list[Step]] = {}
        for step in session.steps:
            for target in linked(step, "blob-of"):
                self.blobs_of.setdefault(target, []).append(step)
            self.first_at_url.setdefault(step.exchange.url, step)
            if step.kind in (StepKind.MANIFEST, StepKind.MANIFEST_INDEX) and step.reference:
                self.manifests_by_ref.setdefault(step.reference, []).append(step)
        self.ns_told = False

    def number(self, step_id: str | None) -> int | None:
        return self.numbers.get(step_id) if step_id else None

    def first(self, step: Step, rel: str) -> Step | None:
        for target in linked(step, rel):
            if target in self.by_id:
                return self.by_id[target]
        return None

    def kind_label(self, step: Step) -> str:
        return self.t(f"kind_{step.kind}")


# -- sentences per step --------------------------------------------------------------------------

def _params(challenge: dict[str, str], t: Translate) -> str:
    parts = []
    if challenge.get("realm"):
        parts.append(t("x_realm", realm=_strip_scheme(challenge["realm"])))
    if challenge.get("service"):
        parts.append(t("x_service", service=challenge["service"]))
    if challenge.get("scope"):
        parts.append(t("x_scope", scope=challenge["scope"]))
    return t("x_join").join(parts)


def _ping(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    out.append(c.t("x_ping_ask", host=host_of(step)))
    if ok(step) and sent_authorization(step) == "bearer":
        # A Basic /v2/ is a login step; a Bearer one checks a token (`docker login`'s last ping).
        out.append(c.t("x_ping_accepted", status=_status(step)))
    elif ok(step):
        out.append(c.t("x_ping_open", status=_status(step)))


def _challenged(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    """The protocol's greeting: a 401 with a challenge on the ping, or on the first request of
    a client that skips the ping (containerd asks for the manifest first)."""
    t = c.t
    challenge = challenge_of(step)
    if status_of(step) != 401 or not challenge or failure_of(step) or step.kind in (StepKind.TOKEN, StepKind.LOGIN):
        return
    if challenge.get("scheme") == "bearer":
        key = "x_ping_bearer" if step.kind is StepKind.PING else "x_bearer_again"
        out.append(t(key, params=_params(challenge, t)))
        terms += ["challenge", "realm", "token"]
    elif challenge.get("scheme") == "basic":
        out.append(t("x_ping_basic", params=_params(challenge, t)))
        terms.append("challenge")


def _credentials(step: Step, t: Translate) -> str:
    kind = step.facts.credential_kind or "anonymous"
    if kind == "basic":
        account = step.facts.account
        return t("x_cred_basic", account=account) if account else t("x_cred_basic_anonymous")
    if kind in ("password", "refresh_token"):
        return t(f"x_cred_{kind}")
    return t("x_cred_anonymous")


def _scope(step: Step, t: Translate) -> str:
    scopes = step.facts.scopes or []
    return t("x_with_scope", scope=t("x_list_sep").join(scopes)) if scopes else t("x_no_scope")


def _grants(step: Step, t: Translate) -> str:
    grants = token_grants(step)
    if not grants:
        return ""
    parts = [t("x_grant", actions=",".join(actions), name=name) if actions else t("x_grant_none", name=name)
             for name, actions in grants]
    return t("x_grants", grants=t("x_list_sep").join(parts))


def _token(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    realm = _strip_scheme(step.facts.realm or step.exchange.url.partition("?")[0])
    answered = c.number(next(iter(linked(step, "answers")), None))
    fields = {"realm": realm, "scope": _scope(step, t), "credentials": _credentials(step, t)}
    if answered:
        out.append(t("x_token_ask_answers", n=answered, **fields))
    else:
        out.append(t("x_token_ask", **fields))
    terms += ["token", "realm", "scope"]
    if ok(step):
        expires = step.facts.expires_in
        valid = t("x_valid_for", seconds=expires) if isinstance(expires, (int, float)) else ""
        out.append(t("x_token_ok", status=_status(step), valid=valid, grants=_grants(step, t)))
        retry = c.first(step, "retried-by")
        if retry is not None:
            out.append(t("x_token_next", n=c.number(retry.id), kind=c.kind_label(retry)))


def _login(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    if step.facts.realm:
        out.append(t("x_login_ask", realm=_strip_scheme(step.facts.realm), scope=_scope(step, t),
                     credentials=_credentials(step, t)))
        terms.append("token")
    else:
        out.append(t("x_login_basic", host=host_of(step)))
    if ok(step):
        out.append(t("x_login_ok", status=_status(step)))


def _manifest_ask(step: Step, c: _Context, out: list[str], head: bool) -> None:
    by = "digest" if (step.reference or "").startswith("sha256:") or step.facts.by == "digest" else "tag"
    ref = fmt.short_digest(step.reference or "") if by == "digest" else (step.reference or "")
    key = ("x_head_ask_" if head else "x_manifest_ask_") + by
    out.append(c.t(key, host=host_of(step), repo=step.repository or "", ref=ref))


def _retried(step: Step, c: _Context, out: list[str]) -> None:
    """A request repeated with the token of a challenge's answer."""
    first = c.first(step, "retries")
    if first is None:
        return
    token = c.number(c.token_for.get(step.id))
    if token and first.exchange.url != step.exchange.url:
        # A challenge on the ping is answered by whatever the client asks next.
        out.append(c.t("x_retry_carries", n=c.number(first.id), m=token))
    elif token:
        out.append(c.t("x_retry", n=c.number(first.id), m=token))


def _head(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    _manifest_ask(step, c, out, head=True)
    _retried(step, c, out)
    digest = step.facts.digest
    if ok(step) and digest:
        out.append(t("x_head_ok", status=_status(step), digest=fmt.short_digest(str(digest)),
                     media=_media(step.exchange.content_type, t)))
        terms += ["manifest", "digest"]
        later = [m for m in c.manifests_by_ref.get(str(digest), []) if c.numbers[m.id] > c.numbers[step.id]]
        if later:
            out.append(t("x_head_next", n=c.number(later[0].id)))


def _index(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    _manifest_ask(step, c, out, head=False)
    _retried(step, c, out)
    parsed = manifest_of(step)
    if parsed is not None and parsed.is_index:
        platforms = [str(p) for p in parsed.platforms()]
        out.append(t("x_index_ok", media=_media(parsed.media_type, t), count=len(parsed.manifests),
                     platforms=t("x_list_sep").join(platforms) if platforms else "?"))
        terms.append("manifest-list")
    for link in step.links:
        if link.rel == "chooses" and link.target in c.by_id:
            out.append(t("x_index_next", platform=link.note or "?", n=c.number(link.target)))
            terms += ["platform-manifest", "digest"]
            break


def _manifest(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    _manifest_ask(step, c, out, head=False)
    _retried(step, c, out)
    for link in step.links:
        if link.rel == "chosen-from" and link.target in c.by_id and link.note:
            out.append(t("x_manifest_platform", platform=link.note, n=c.number(link.target)))
            terms.append("platform-manifest")
            break
    parsed = manifest_of(step)
    if parsed is None or parsed.is_index:
        return
    layers = len(parsed.layers)
    if parsed.is_schema1:
        layers = schema1_layers(step) or 0
    if parsed.config:
        blobs = t("x_blobs_config_layer_one" if layers == 1 else "x_blobs_config_layers", layers=layers)
    else:
        blobs = t("x_blobs_layer_one" if layers == 1 else "x_blobs_layers", layers=layers)
    out.append(t("x_manifest_ok", media=_media(parsed.media_type, t), blobs=blobs))
    terms += ["manifest", "blob", "digest"]
    total = layers + (1 if parsed.config else 0)
    named = c.blobs_of.get(step.id, [])
    asked = sorted({c.numbers[s.id] for s in named if not linked(s, "follows")})
    digests = {s.facts.digest for s in named}
    if asked and len(digests) >= total:
        out.append(t("x_manifest_next_all", total=total, n=asked[0]))
    elif asked:
        out.append(t("x_manifest_next", asked=len(digests), total=total, n=asked[0]))
    elif total:
        out.append(t("x_manifest_next_none"))


def _blob(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    role = _role(step.role, t)
    digest = fmt.short_digest(step.facts.digest or step.reference or "")
    if role:
        size = step.facts.expected_size
        size_text = t("x_size", size=fmt.human_bytes(size)) if isinstance(size, int) else ""
        out.append(t("x_blob_ask", host=host_of(step), role=role, digest=digest, size=size_text))
    else:
        out.append(t("x_blob_ask_plain", host=host_of(step), digest=digest))
    terms += ["blob", "digest"]
    _retried(step, c, out)
    if ok(step):
        out.append(t("x_blob_direct", status=_status(step), bytes=fmt.human_bytes(step.exchange.response_bytes),
                     time=fmt.human_ms(step.exchange.duration_ms) or "?"))


def _redirect(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    target = location_of(step) or ""
    previous = c.first(step, "follows")
    terms += ["redirect"]
    if previous is None:
        _blob(step, c, out, terms)
        out.append(t("x_redirect", status=_status(step), target=fmt.host_of(target) if target else "?",
                     signed=_signed(target, step.exchange.started_at, t)))
        terms.append("cdn")
    else:
        out.append(t("x_hop", n=c.number(previous.id), host=host_of(step), status=_status(step),
                     target=fmt.host_of(target) if target else "?"))
        seen = c.first_at_url.get(target)
        if seen is not None and c.numbers[seen.id] < c.numbers[step.id]:
            out.append(t("x_hop_loop", n=c.number(seen.id)))
    follow = c.first(step, "redirects-to")
    if follow is None:
        out.append(t("x_redirect_unfollowed"))
    elif previous is None:
        key = "x_redirect_follow_token" if sent_authorization(follow) == "bearer" else "x_redirect_follow"
        out.append(t(key, n=c.number(follow.id)))


def _cdn(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    previous = c.first(step, "follows")
    token = t("x_with_token") if sent_authorization(step) == "bearer" else t("x_no_token")
    fields = {"host": host_of(step), "token": token, "status": _status(step),
              "bytes": fmt.human_bytes(step.exchange.response_bytes)}
    role = _role(step.role, t)
    digest = fmt.short_digest(step.facts.digest or "")
    if not ok(step):
        # Nothing was downloaded: say what was asked; the failure says why not.
        if previous is not None and role:
            out.append(t("x_cdn_ask", n=c.number(previous.id), role=role, host=fields["host"], token=token))
        else:
            out.append(t("x_cdn_ask_plain", digest=digest, host=fields["host"], token=token))
    elif previous is not None and role:
        out.append(t("x_cdn", n=c.number(previous.id), role=role, **fields))
    else:
        out.append(t("x_cdn_plain", digest=digest, **fields))
    terms += ["cdn", "blob"]


def _other(step: Step, c: _Context, out: list[str], terms: list[str]) -> None:
    t = c.t
    fields = {"host": host_of(step), "method": step.exchange.method, "path": path_of(step)}
    if step.kind is StepKind.CONNECTION:
        out.append(t("x_connection", host=host_of(step) or step.exchange.url,
                     error=step.exchange.error or failure_of(step) or "?"))
    elif step.kind is StepKind.CATALOG:
        out.append(t("x_catalog", host=fields["host"], path=fields["path"]))
    elif step.kind is StepKind.UPLOAD:
        out.append(t("x_upload", **fields))
    else:
        out.append(t("x_other", **fields))


_BY_KIND = {
    StepKind.PING: _ping,
    StepKind.TOKEN: _token,
    StepKind.LOGIN: _login,
    StepKind.MANIFEST_HEAD: _head,
    StepKind.MANIFEST_INDEX: _index,
    StepKind.MANIFEST: _manifest,
    StepKind.CONFIG_BLOB: _blob,
    StepKind.LAYER_BLOB: _blob,
    StepKind.BLOB_REDIRECT: _redirect,
    StepKind.CDN_DOWNLOAD: _cdn,
}


def _failure(step: Step, c: _Context, out: list[str]) -> None:
    """Why a failed step failed, from its status, challenge and error body, and whether the
    client tried again."""
    t = c.t
    status = status_of(step)
    if status is None:
        if step.kind is not StepKind.CONNECTION:
            out.append(t("x_fail_noresponse", error=step.exchange.error or failure_of(step) or "?"))
    else:
        code = registry_error(step)
        if code and code[1]:
            code_text = t("x_fail_code", code=code[0], message=code[1])
        else:
            code_text = t("x_fail_code_only", code=code[0]) if code else ""
        out.append(t("x_fail", status=_status(step), code=code_text))
        challenge = challenge_of(step) or {}
        if status == 401 and challenge.get("error") == "insufficient_scope":
            out.append(t("x_fail_scope", scope=challenge.get("scope") or "?"))
        elif status == 401:
            out.append(t("x_fail_401"))
        elif status == 403:
            out.append(t("x_fail_403"))
        elif status == 404:
            digest = step.facts.digest or step.reference or ""
            if step.kind in (StepKind.MANIFEST, StepKind.MANIFEST_HEAD, StepKind.MANIFEST_INDEX):
                ref = fmt.short_digest(step.reference or "")
                out.append(t("x_fail_404_manifest", ref=ref, repo=step.repository or "?"))
            elif step.kind is StepKind.CDN_DOWNLOAD:
                out.append(t("x_fail_404_storage", host=host_of(step)))
            elif step.kind in BLOB_BODY_KINDS and step.repository and digest:
                out.append(t("x_fail_404_blob", digest=fmt.short_digest(str(digest)), repo=step.repository))
            else:
                out.append(t("x_fail_404"))
        elif status == 429:
            remaining = step.exchange.response_header("ratelimit-remaining")
            after = (step.exchange.response_header("retry-after") or "").strip()
            fields = {"remaining": t("x_remaining", value=remaining) if remaining else ""}
            if after.isdigit():
                out.append(t("x_fail_429_after", seconds=after, **fields))
            else:
                out.append(t("x_fail_429", **fields))
        elif status >= 500:
            out.append(t("x_fail_5xx"))
    again = c.number(c.again.get(step.id))
    if again:
        out.append(t("x_fail_again", n=again))


def explain_step(step: Step, c: _Context) -> StepExplanation:
    """One step's sentences: a repeat or mirror first, then its kind's, then why it failed."""
    out: list[str] = []
    terms: list[str] = []
    if c.again_of.get(step.id) and not linked(step, "retries"):
        out.append(c.t("x_again", n=c.number(c.again_of[step.id])))
    ns = step.facts.ns
    if ns and not c.ns_told:
        out.append(c.t("x_ns", ns=ns, host=host_of(step)))
        terms.append("mirror")
        c.ns_told = True
    _BY_KIND.get(step.kind, _other)(step, c, out, terms)
    _challenged(step, c, out, terms)
    if failure_of(step) or (status_of(step) is None and step.kind is not StepKind.CONNECTION):
        _failure(step, c, out)
    return StepExplanation(step.id, c.numbers[step.id], tuple(out), tuple(dict.fromkeys(terms)))


# -- the session's open questions ----------------------------------------------------------------

def _blob_label(digest: str, session: Session, t: Translate) -> str:
    for step in session.steps:
        parsed = manifest_of(step) if step.kind is StepKind.MANIFEST else None
        if parsed is None:
            continue
        for n, layer in enumerate(parsed.layers, 1):
            if layer.digest == digest:
                return f"{t('x_label_layer', n=n, total=len(parsed.layers))} {fmt.short_digest(digest)}"
        if parsed.config and parsed.config.digest == digest:
            return f"{t('x_label_config')} {fmt.short_digest(digest)}"
    return fmt.short_digest(digest)


def _skipped_note(session: Session, t: Translate) -> str | None:
    manifests = [m for m in (manifest_of(s) for s in session.steps if s.kind is StepKind.MANIFEST)
                 if m is not None and not m.is_index]
    if not manifests:
        return None
    total = len(manifests[-1].layers) + (1 if manifests[-1].config else 0)
    skipped = list(session.summary.skipped_blobs)
    if skipped:
        names = [_blob_label(d, session, t) for d in skipped]
        joined = t("x_list_sep").join(names[:-1]) + t("x_list_and") + names[-1] if len(names) > 1 else names[0]
        return t("x_note_skipped_many" if len(names) > 1 else "x_note_skipped", total=total, names=joined)
    if any(s.kind in BLOB_BODY_KINDS or s.kind is StepKind.BLOB_REDIRECT for s in session.steps) and \
            session.summary.errors == [] and session.summary.layers_fetched == session.summary.layers:
        return t("x_note_none_skipped", total=total)
    return None


def max_overlap(spans: list[tuple[str, float, float]]) -> tuple[int, list[str], float]:
    """The most intervals open at one instant, which ones, and when: a sweep over start and
    end events (an end at the same instant as a start closes first: back to back is serial)."""
    events = sorted([(start, 1, sid) for sid, start, _ in spans] + [(end, 0, sid) for sid, _, end in spans])
    open_now: list[str] = []
    best: tuple[int, list[str], float] = (0, [], 0.0)
    for when, is_start, sid in events:
        if is_start:
            open_now.append(sid)
            if len(open_now) > best[0]:
                best = (len(open_now), list(open_now), when)
        else:
            open_now.remove(sid)
    return best


def _parallel_note(session: Session, numbers: dict[str, int], t: Translate) -> str | None:
    downloads = [s for s in session.steps if s.kind in BLOB_BODY_KINDS and ok(s)]
    spans = [(s.id, *span) for s in downloads if (span := span_of(s)) is not None]
    if len(downloads) < 2 or len(spans) != len(downloads):
        return None  # a download without a duration: the trace cannot say what overlapped
    count, ids, when = max_overlap(spans)
    if count < 2:
        return t("x_note_serial", count=len(downloads))
    origin = min(s.exchange.started_at for s in session.steps)
    refs = t("x_steps_sep").join(t("x_step_ref", n=numbers[i]) for i in sorted(ids, key=numbers.__getitem__))
    return t("x_note_parallel", count=count, steps=refs, at=f"{(when - origin) * 1000:.0f}")


def session_notes(session: Session, numbers: dict[str, int], t: Translate) -> list[str]:
    """The open questions of seed 003 the session holds evidence for: skipped layers, downloads
    at once, and (from the summary) the mirror and the fallback."""
    notes = [n for n in (_skipped_note(session, t), _parallel_note(session, numbers, t)) if n]
    s = session.summary
    if s.mirror and s.fallback:
        notes.append(t("x_note_fallback", mirror=s.mirror, fallback=s.fallback))
    elif s.mirror:
        notes.append(t("x_note_mirror", mirror=s.mirror, registry=s.registry))
    return notes


def explain_session(session: Session, lang: str = "en") -> SessionExplanation:
    """Every step of a session explained, then its open questions answered, in one language."""
    t = translator(lang)
    c = _Context(session, t)
    steps = tuple(explain_step(step, c) for step in session.steps)
    notes = session_notes(session, c.numbers, t)
    terms = [term for s in steps for term in s.terms]
    if session.summary.skipped_blobs:
        terms.append("blob")
    if session.summary.mirror:
        terms.append("mirror")
    return SessionExplanation(steps, tuple(notes), tuple(dict.fromkeys(terms)))


def explain(session: Session, lang: str = "en") -> list[tuple[str, list[str]]]:
    """(step id, sentences) per step, in order: the plain-data form of `explain_session`."""
    return [(s.step_id, list(s.sentences)) for s in explain_session(session, lang).steps]

