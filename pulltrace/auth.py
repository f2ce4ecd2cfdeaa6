"""WWW-Authenticate challenges and token scopes: the registry auth vocabulary.

Shared by the classifier (which reads challenges off captured responses) and the
pull client (which answers them). The grammar is RFC 7235's: a header may hold
several challenges, and quoted values may contain commas (`scope="repository:a:pull,push"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from pulltrace import jsonbound
from pulltrace.errors import UserError

# skopeo/containers-image send `Authorization: Basic Og==` (base64 of ":") when they have no
# credentials: anonymous, not a login, and nothing secret to mask.
EMPTY_BASIC = frozenset({"og==", "og"})


def authorization_scheme(value: str | None) -> str | None:
    """`bearer`, `basic`, … of an Authorization header (masked or not); skopeo's empty Basic is none."""
    if not value:
        return None
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() == "basic" and credential.strip().lower() in EMPTY_BASIC:
        return None
    return scheme.lower() or None

# A token service's JSON answer is a few KiB (a JWT and its expiry); distribution's
# client reads at most this much of it.
MAX_TOKEN_BODY = 1024 * 1024
MAX_TOKEN_REQUEST = 64 * 1024


def _shown(text: str) -> str:
    """Wire text quoted in a message: repr (so control bytes are escaped), bounded."""
    return repr(text) if len(text) <= 200 else repr(text[:200]) + "…"


class ChallengeError(UserError, ValueError):
    """A WWW-Authenticate header that cannot be parsed; carries the header."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(f"{message}: {_shown(header)}")
        self.header = header


class ScopeError(UserError, ValueError):
    """A token scope that is not `type:name:actions`."""


class TokenResponseError(UserError, ValueError):
    """A token service's answer that is not the JSON object the token spec defines."""


@dataclass(frozen=True)
class Challenge:
    """One auth challenge: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")

    @property
    def is_bearer(self) -> bool:
        return self.scheme == "bearer"

    @property
    def is_basic(self) -> bool:
        return self.scheme == "basic"


# RFC 7230 tokens and quoted strings. Every alternative starts with a character the others
# cannot, and quantifiers are possessive, so a failed match never backtracks: each match
# attempt is linear in what it reads, and the loop below never reads a character twice
# except for one look-ahead per parameter.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]++"
_SCHEME_RE = re.compile(rf"\s*+({_TOKEN})(?=\s|$|,)")
_PARAM_RE = re.compile(rf'\s*+({_TOKEN})\s*+=\s*+(?:"((?:[^"\\]++|\\.)*+)"|({_TOKEN}))\s*+', re.DOTALL)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse one WWW-Authenticate header value into its challenges, in order, or raise
    ChallengeError."""
    if not isinstance(header, str):
        raise ChallengeError("WWW-Authenticate header is not text", repr(header))
    challenges: list[Challenge] = []
    pos = 0
    text = header.strip()
    if not text:
        raise ChallengeError("empty WWW-Authenticate header", header)
    while pos < len(text):
        while pos < len(text) and text[pos] in " ,":
            pos += 1
        if pos >= len(text):
            break
        m = _SCHEME_RE.match(text, pos)
        if not m:
            raise ChallengeError("no auth scheme where one was expected", header)
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(text):
            pm = _PARAM_RE.match(text, pos)
            if not pm:
                break
            name = pm.group(1).lower()
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[name] = _ESCAPE_RE.sub(r"\1", value)
            pos = pm.end()
            if pos < len(text):
                if text[pos] != ",":
                    raise ChallengeError("expected ',' between parameters", header)
                pos += 1
                # `name=` continues this challenge; `Scheme name=` starts the next one.
                nxt = _PARAM_RE.match(text, pos)
                if not nxt:
                    break
        if scheme == "bearer" and "realm" not in params:
            raise ChallengeError("Bearer challenge without a realm", header)
        challenges.append(Challenge(scheme=scheme, params=params))
    return challenges


def parse_www_authenticate(values: list[str]) -> list[Challenge]:
    """All challenges from every WWW-Authenticate header of a response."""
    out: list[Challenge] = []
    for value in values:
        out.extend(parse_challenges(value))
    return out


@dataclass(frozen=True)
class Scope:
    """`repository:library/alpine:pull,push` as a value."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope:
    """Parse a scope string, or raise ScopeError; the name may itself hold a `:` (a
    registry with a port)."""
    if not isinstance(text, str):
        raise ScopeError(f"invalid scope: expected text, got {type(text).__name__}")
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        raise ScopeError(f"invalid scope {_shown(text)}: expected type:name:actions")
    return Scope(type=kind, name=name, actions=tuple(a for a in actions.split(",") if a))


def repository_scope(repository: str, *actions: str) -> str:
    return str(Scope("repository", repository, actions or ("pull",)))


@dataclass(frozen=True)
class TokenRequest:
    """What a token request asked for, read back from its URL or form body."""

    service: str | None
    scopes: list[str]
    account: str | None
    client_id: str | None
    offline_token: bool
    grant_type: str | None


def read_token_request(url: str, form_body: str | None = None) -> TokenRequest:
    """Read the scope/service/account of a GET `<realm>?…` or an OAuth2 `POST <realm>` form.

    Total: any text gives a TokenRequest. The query is cut out by hand, not by urlsplit,
    which raises on a malformed host (an unclosed `[`) that says nothing about the query.
    Only the first MAX_TOKEN_REQUEST characters of each are read: no registry's HTTP
    server takes a longer request line (nginx stops at 8 KiB)."""
    query = url.partition("#")[0].partition("?")[2] if isinstance(url, str) else ""
    pairs = parse_qsl(query[:MAX_TOKEN_REQUEST], keep_blank_values=True)
    if form_body and isinstance(form_body, str):
        pairs += parse_qsl(form_body[:MAX_TOKEN_REQUEST], keep_blank_values=True)
    scopes: list[str] = []
    values: dict[str, str] = {}
    for key, value in pairs:
        if key == "scope":
            # OAuth2 forms separate several scopes with spaces in one parameter.
            scopes.extend(s for s in value.split(" ") if s)
        else:
            values.setdefault(key, value)
    return TokenRequest(
        service=values.get("service"),
        scopes=scopes,
        account=values.get("account") or values.get("username"),
        client_id=values.get("client_id"),
        offline_token=values.get("offline_token", "").lower() == "true",
        grant_type=values.get("grant_type"),
    )


@dataclass(frozen=True)
class TokenResponse:
    """A token service's answer (distribution's token spec, and OAuth2's for POST):
    `token` and `access_token` are the same credential; either may be absent."""

    token: str
    expires_in: int | None
    issued_at: str | None
    refresh_token: str | None
    fields: tuple[str, ...]


def parse_token_response(body: str | bytes) -> TokenResponse:
    """Parse a token service's JSON body, or raise TokenResponseError (one line).

    Types follow docker's decoder (distribution/registry/client/auth): the tokens and
    issued_at are strings, expires_in an integer; a wrong type is an error, not a guess."""
    try:
        data = jsonbound.loads(body, max_bytes=MAX_TOKEN_BODY, what="token response")
    except jsonbound.JSONBoundError as e:
        raise TokenResponseError(str(e)) from None
    if not isinstance(data, dict):
        raise TokenResponseError(f"token response is JSON {type(data).__name__}, not an object")
    for key in ("token", "access_token", "refresh_token", "issued_at"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise TokenResponseError(f"token response field {key!r} is not a string")
    expires = data.get("expires_in")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool) or expires < 0):
        raise TokenResponseError(f"token response field 'expires_in' is not a whole number of seconds: {expires!r:.40}")
    token = data.get("access_token") or data.get("token")
    if not token:
        raise TokenResponseError("token response holds no token (neither 'token' nor 'access_token')")
    return TokenResponse(
        token=token,
        expires_in=expires,
        issued_at=data.get("issued_at"),
        refresh_token=data.get("refresh_token") or None,
        fields=tuple(sorted(k for k, v in data.items() if v not in (None, ""))),
    )
