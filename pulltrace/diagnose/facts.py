"""Facts the diagnosis rules share, read off the model only.

Every rule works from what a trace keeps: statuses, headers, error bodies and the
claims the classifier stores in `Step.facts`. Tokens are masked by default, so a JWT is
decoded only when it is still whole; nothing here needs the secret itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pulltrace.auth import Challenge, ChallengeError, authorization_scheme, parse_www_authenticate
from pulltrace.model import Exchange, Session, Step, StepKind
from pulltrace.redact import decode_claims
from pulltrace.v2path import V2Path, netloc, parse_url

MANIFEST_KINDS = frozenset({StepKind.MANIFEST, StepKind.MANIFEST_INDEX, StepKind.MANIFEST_HEAD})
BLOB_KINDS = frozenset({StepKind.CONFIG_BLOB, StepKind.LAYER_BLOB})
REGISTRY_KINDS = MANIFEST_KINDS | BLOB_KINDS | {StepKind.PING, StepKind.BLOB_REDIRECT, StepKind.CATALOG}

# distribution's token verifier allows this much clock difference on nbf/exp.
TOKEN_LEEWAY_S = 60.0


# --- URLs -------------------------------------------------------------------------------

def host_of(url: str) -> str:
    """`host[:port]` of a URL, lowercased; a port is kept because plain.…:5000 ≠ plain.…, but the
    scheme's default port is dropped (`hub.…:443` is `hub.…`)."""
    return netloc(url)


def hostname_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower()


def v2_path(url: str) -> V2Path | None:
    """Read a registry API URL with the one /v2/ grammar (`pulltrace.v2path`); None when the
    URL is not a /v2/ call (a CDN, a realm). Cached: every rule asks about every step."""
    return _v2_path_cached(url)


@lru_cache(maxsize=4096)
def _v2_path_cached(url: str) -> V2Path | None:
    return parse_url(url)


def repository_of(step: Step) -> str | None:
    if step.repository:
        return step.repository
    parsed = v2_path(step.exchange.url)
    return parsed.repository if parsed else None


def reference_of(step: Step) -> str | None:
    if step.reference:
        return step.reference
    parsed = v2_path(step.exchange.url)
    return parsed.reference if parsed else None


def kind_of(step: Step) -> StepKind:
    """What the step asked for: a failed step keeps its kind (and says what failed in `error`)."""
    return step.kind


def is_manifest_step(step: Step) -> bool:
    if kind_of(step) in MANIFEST_KINDS:
        return True
    parsed = v2_path(step.exchange.url)
    return parsed is not None and parsed.endpoint == "manifest"


def is_blob_step(step: Step) -> bool:
    """A GET/HEAD on /v2/<name>/blobs/<digest> at the registry (not the CDN hop)."""
    if kind_of(step) in BLOB_KINDS or kind_of(step) == StepKind.BLOB_REDIRECT:
        return True
    parsed = v2_path(step.exchange.url)
    return parsed is not None and parsed.endpoint == "blob" and step.exchange.method in ("GET", "HEAD")


def is_token_step(step: Step) -> bool:
    """A request to a token service. A `/v2/` ping with Basic credentials is classified
    LOGIN too, but it is a registry call and stays with the registry steps."""
    if kind_of(step) not in (StepKind.TOKEN, StepKind.LOGIN):
        return False
    parsed = v2_path(step.exchange.url)
    return parsed is None or parsed.endpoint != "ping"


def is_cdn_step(step: Step) -> bool:
    return kind_of(step) == StepKind.CDN_DOWNLOAD


# --- the registry of a session --------------------------------------------------------

def registry_host(session: Session) -> str:
    """The registry a session talked to: the summary's, else the host most /v2/ calls went to."""
    if session.summary.registry:
        return session.summary.registry.lower()
    hosts = Counter(
        host_of(s.exchange.url)
        for s in session.steps
        if s.kind in REGISTRY_KINDS or v2_path(s.exchange.url) is not None
    )
    return hosts.most_common(1)[0][0] if hosts else ""


def registry_hosts(session: Session) -> set[str]:
    """Every host that answered /v2/ API calls (a mirror and its upstream both count)."""
    hosts = {host_of(s.exchange.url) for s in session.steps if v2_path(s.exchange.url) is not None}
    if session.summary.registry:
        hosts.add(session.summary.registry.lower())
    return hosts


def same_host(a: str, b: str) -> bool:
    """Hosts equal once a default port is dropped (`hub.x:443` is `hub.x`)."""
    def norm(h: str) -> str:
        return h.removesuffix(":443") if h.endswith(":443") else h
    return norm(a) == norm(b)


# --- error bodies -----------------------------------------------------------------------

@dataclass(frozen=True)
class RegistryError:
    code: str
    message: str = ""
    detail: Any = None


def registry_errors(exchange: Exchange) -> list[RegistryError]:
    """The `{"errors":[{"code":…,"message":…}]}` body of a registry error, when it was kept."""
    text = exchange.response_body_preview
    if not text or "errors" not in text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    out = []
    for item in errors:
        if isinstance(item, dict) and item.get("code"):
            out.append(RegistryError(str(item["code"]).upper(), str(item.get("message") or ""), item.get("detail")))
    return out


def error_codes(exchange: Exchange) -> list[str]:
    return [e.code for e in registry_errors(exchange)]


# Object storage behind a CDN redirect (S3, GCS) answers in XML:
# <?xml …?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message>…</Error>
_XML_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{1,200})</Message>")


def storage_error(exchange: Exchange) -> str:
    """`AccessDenied: Request has expired` from an object-storage XML error body, else ""."""
    text = exchange.response_body_preview or ""
    if "<Error>" not in text:
        return ""
    code, message = _XML_CODE.search(text), _XML_MESSAGE.search(text)
    return ": ".join(m.group(1).strip() for m in (code, message) if m)


def error_message(exchange: Exchange) -> str:
    """The first error message of a registry error body (or a storage XML error), else the
    body preview's first line that is not an XML declaration."""
    errors = registry_errors(exchange)
    if errors:
        return errors[0].message
    stored = storage_error(exchange)
    if stored:
        return stored
    lines = [
        line for line in (exchange.response_body_preview or "").strip().splitlines()
        if not line.startswith("<?xml")
    ]
    return lines[0].strip()[:200] if lines else ""


def json_body(exchange: Exchange) -> dict[str, Any] | None:
    return exchange.response_json()


# --- challenges -------------------------------------------------------------------------

@dataclass(frozen=True)
class ChallengeRead:
    """The challenges of a response, or why they could not be read."""

    challenges: list[Challenge]
    problem: str | None = None
    header: str | None = None


def read_challenges(exchange: Exchange) -> ChallengeRead:
    """The challenges of a response (parsed once per exchange), or why they could not be read."""
    values = exchange.response_header_all("www-authenticate")
    if not values:
        return ChallengeRead([], "missing")
    cached = exchange.__dict__.get("_challenge_read")
    if cached is not None and cached[0] == values:
        return cached[1]
    try:
        read = ChallengeRead(parse_www_authenticate(values))
    except ChallengeError as e:
        read = ChallengeRead([], str(e), e.header)
    exchange.__dict__["_challenge_read"] = (values, read)
    return read


def bearer_challenge(exchange: Exchange) -> Challenge | None:
    for challenge in read_challenges(exchange).challenges:
        if challenge.is_bearer:
            return challenge
    return None


# --- credentials seen on the wire ------------------------------------------------------

def accepted_types(exchange: Exchange) -> list[str] | None:
    """Media types of the request's Accept headers (docker sends one header per type); None without Accept."""
    values = [v for k, v in exchange.request_headers if k.lower() == "accept"]
    if not values:
        return None
    return [t.split(";")[0].strip().lower() for v in values for t in v.split(",") if t.strip()]


def auth_scheme(exchange: Exchange) -> str | None:
    """`bearer`, `basic` or None: the scheme of the request's Authorization header (masked or not)."""
    return authorization_scheme(exchange.request_header("authorization"))


def _jwt_from(value: str | None) -> str | None:
    if not value:
        return None
    candidate = value.split(" ", 1)[-1].strip()
    # A masked token ends in "…" and holds no dot-separated segments: nothing to decode.
    return candidate if candidate.count(".") == 2 and "…" not in candidate else None


def token_claims(step: Step) -> dict[str, Any] | None:
    """Claims of the token a token step returned: as the classifier kept them, else the
    unmasked body."""
    if step.facts.claims:
        return step.facts.claims
    # Decoded where the exchange entered the model, before the token was masked.
    kept = getattr(step.exchange, "token_claims", None)
    if isinstance(kept, dict) and kept:
        return kept
    body = json_body(step.exchange)
    if body:
        for key in ("token", "access_token"):
            claims = decode_claims(_jwt_from(body.get(key) if isinstance(body.get(key), str) else None))
            if claims:
                return claims
    return None


def request_claims(step: Step) -> dict[str, Any] | None:
    """Claims of the bearer token a request carried, when it is still whole."""
    return decode_claims(_jwt_from(step.exchange.request_header("authorization")))


def granted_scopes(claims: dict[str, Any]) -> list[str]:
    """`repository:name:pull,push` strings from a distribution JWT's `access` claim."""
    out = []
    for entry in claims.get("access") or []:
        # Docker Hub and distribution's token services list a refused scope with no actions.
        if isinstance(entry, dict) and entry.get("actions"):
            out.append(f"{entry.get('type', '')}:{entry.get('name', '')}:{','.join(entry['actions'])}")
    return out


def granted_actions(claims: dict[str, Any], repository: str) -> set[str]:
    actions: set[str] = set()
    for entry in claims.get("access") or []:
        if isinstance(entry, dict) and entry.get("name") == repository:
            actions.update(entry.get("actions") or [])
    return actions


# --- time -------------------------------------------------------------------------------

def server_time(exchange: Exchange) -> float | None:
    """The server's clock from its Date header, as a Unix time (one-second resolution)."""
    value = exchange.response_header("date")
    return _http_date(value) if value else None


@lru_cache(maxsize=1024)
def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def token_expires_in(step: Step) -> float | None:
    """The lifetime the token service told the client (`expires_in`), in seconds."""
    body = json_body(step.exchange) or {}
    for value in (body.get("expires_in"), step.facts.expires_in):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def token_lifetime(step: Step) -> tuple[float | None, float | None]:
    """(issued, expires) of a token step: JWT iat/exp when readable, else the token body's
    `expires_in` counted from `issued_at` or from when the answer arrived."""
    claims = token_claims(step)
    if claims and isinstance(claims.get("exp"), (int, float)):
        iat = claims.get("iat") if isinstance(claims.get("iat"), (int, float)) else None
        return iat, float(claims["exp"])
    body = json_body(step.exchange) or {}
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, (int, float)):
        expires_in = step.facts.expires_in
    if not isinstance(expires_in, (int, float)):
        return None, None
    issued = _iso_time(body.get("issued_at")) or server_time(step.exchange) or step.exchange.started_at
    return issued, issued + float(expires_in)


def _iso_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    from datetime import datetime

    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


# --- transport errors -------------------------------------------------------------------

_TLS_UNTRUSTED = re.compile(
    r"x509|certificate verify failed|certificate_verify_failed|unknown authority|"
    r"self[- ]signed certificate|unable to get local issuer|certificate is not valid|"
    r"certificate has expired|hostname mismatch|not valid for",
    re.I,
)
_HTTPS_TO_HTTP = re.compile(
    r"server gave HTTP response to HTTPS client|wrong version number|wrong_version_number|"
    r"record layer failure|packet length too long|unknown protocol|http request.*https",
    re.I,
)
_HTTP_TO_HTTPS = re.compile(
    r"plain HTTP request was sent to HTTPS port|malformed HTTP response.*\\x15\\x03|"
    r"\\x15\\x03|client sent an HTTP request to an HTTPS server",
    re.I,
)
_REFUSED = re.compile(r"connection refused|connect: refused|errno 111|ECONNREFUSED", re.I)
_DNS = re.compile(
    r"no such host|name or service not known|nodename nor servname|temporary failure in name resolution|"
    r"getaddrinfo|errno -2|errno -3|name resolution",
    re.I,
)
_TIMEOUT = re.compile(r"timed out|timeout|deadline exceeded", re.I)


def transport_problem(text: str | None) -> str | None:
    """Name the kind of a connection-level failure from a client's or proxy's error text."""
    if not text:
        return None
    for name, pattern in (
        ("https-to-http", _HTTPS_TO_HTTP),
        ("http-to-https", _HTTP_TO_HTTPS),
        ("tls-untrusted", _TLS_UNTRUSTED),
        ("refused", _REFUSED),
        ("dns", _DNS),
        ("timeout", _TIMEOUT),
    ):
        if pattern.search(text):
            return name
    return "other"


def failed(exchange: Exchange) -> bool:
    """No answer at all, or an HTTP error status."""
    return exchange.status is None or exchange.status >= 400


def ids(steps: Iterable[Step]) -> list[str]:
    return [s.id for s in steps]


def short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
