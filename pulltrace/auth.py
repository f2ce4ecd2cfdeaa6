"""WWW-Authenticate challenges and token scopes: the registry auth vocabulary.

Shared by the classifier (which reads challenges off captured responses) and the
pull client (which answers them). The grammar is RFC 7235's: a header may hold
several challenges, and quoted values may contain commas (`scope="repository:a:pull,push"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit


class ChallengeError(ValueError):
    """A WWW-Authenticate header that cannot be parsed; carries the header."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(f"{message}: {header!r}")
        self.header = header


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


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?=\s|$|,)")
_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse one WWW-Authenticate header value into its challenges, in order."""
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
            params[name] = re.sub(r"\\(.)", r"\1", value)
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
    """Parse a scope string; the name may itself hold a `:` (a registry with a port)."""
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        raise ValueError(f"invalid scope {text!r}: expected type:name:actions")
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
    """Read the scope/service/account of a GET `<realm>?…` or an OAuth2 `POST <realm>` form."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    if form_body:
        pairs += parse_qsl(form_body, keep_blank_values=True)
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
