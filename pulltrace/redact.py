"""Masking secrets where exchanges enter the model, so no view can leak them.

Masks keep their shape, so a reader still sees what kind of secret went where:
`Bearer eyJhbGci…`, `Basic YWRt…`, `?Signature=…`, `"token":"eyJhbGci…"`. Masking
is deterministic (the same secret always masks to the same text): a redirect's
Location and the CDN request that follows it stay equal after masking.

Before a token response body is masked, the JWT claims it carries are decoded
(without verification: pulltrace only displays them) into `Exchange.token_claims`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import jwt

from pulltrace.model import Exchange, Headers

ELLIPSIS = "…"

# Query parameters that sign or authorise a URL: S3/OSS/UFile (Signature, Expires,
# *AccessKeyId), CloudFront (Key-Pair-Id, Policy), Docker Hub's Cloudflare CDN (verify),
# AWS SigV4 (X-Amz-*), GCS (X-Goog-*), Azure SAS (sig, se, sp, sv, sr, st, skoid…).
_SECRET_QUERY = frozenset(
    {
        "signature", "expires", "verify", "sig", "token", "access_token", "refresh_token",
        "password", "policy", "key-pair-id", "ossaccesskeyid", "awsaccesskeyid",
        "ucloudpublickey", "googleaccessid", "se", "sp", "sv", "sr", "st", "skoid", "sktid",
        "skt", "ske", "sks", "code", "client_secret", "secret", "apikey", "api_key", "key",
    }
)
_SECRET_QUERY_PREFIXES = ("x-amz-", "x-goog-", "x-oss-")

# JSON keys (token service responses, docker config) and form fields (OAuth2 token
# requests) whose values are credentials.
_SECRET_KEYS = frozenset(
    {"token", "access_token", "refresh_token", "id_token", "identitytoken", "password",
     "client_secret", "auth", "registrytoken"}
)

_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
_URL_HEADERS = frozenset({"location", "referer", "content-location"})
_OPAQUE_HEADERS = frozenset({"x-registry-auth", "x-registry-config", "x-amz-security-token"})

_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_AUTH_IN_TEXT_RE = re.compile(r"\b(Bearer|Basic)\s+([A-Za-z0-9+/=._~-]{6,})(?![A-Za-z0-9+/=._~…-])")
_JSON_SECRET_RE = re.compile(
    r'("(?:' + "|".join(sorted(_SECRET_KEYS)) + r')"\s*:\s*")((?:[^"\\]|\\.)+)(")', re.IGNORECASE
)
_QUERY_IN_TEXT_RE = re.compile(r"([?&]|&amp;)([A-Za-z0-9_.-]+)=([^&\"'\s<>#]*)")


def is_secret_query_name(name: str) -> bool:
    lname = name.lower()
    return lname in _SECRET_QUERY or lname.startswith(_SECRET_QUERY_PREFIXES)


def mask_secret(value: str, keep: int = 8) -> str:
    """`eyJhbGciOi…` — a prefix of a secret, never enough to use it; idempotent."""
    if not value or value.endswith(ELLIPSIS):
        return value
    keep = min(keep, len(value) // 3)
    return value[:keep] + ELLIPSIS


def mask_authorization(value: str) -> str:
    """`Bearer eyJhbGci…`, `Basic YWRt…`: the scheme stays, the credential goes."""
    scheme, sep, credential = value.strip().partition(" ")
    if not sep:
        return mask_secret(value)
    keep = 4 if scheme.lower() == "basic" else 8
    return f"{scheme} {mask_secret(credential.strip(), keep)}"


def _mask_cookie_pairs(value: str, *, set_cookie: bool) -> str:
    parts = value.split(";")
    out = []
    for i, part in enumerate(parts):
        name, eq, val = part.partition("=")
        # In Set-Cookie only the first pair is the cookie; the rest are attributes.
        if eq and (not set_cookie or i == 0):
            out.append(f"{name}={mask_secret(val.strip(), 4)}")
        else:
            out.append(part)
    return ";".join(out)


def mask_url(url: str) -> str:
    """Mask signed-URL query values (`?Expires=…&Signature=…`) and userinfo passwords."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{ELLIPSIS}@{hostport}" if colon else f"{user}@{hostport}"
    query = parts.query
    if query:
        query = "&".join(_mask_query_pair(pair) for pair in query.split("&"))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_query_pair(pair: str) -> str:
    name, eq, value = pair.partition("=")
    if eq and value and is_secret_query_name(name):
        return f"{name}={ELLIPSIS}"
    return pair


def mask_headers(headers: Headers) -> Headers:
    """Mask credentials, cookies and signed URLs in headers; names and order stay."""
    out: Headers = []
    for name, value in headers:
        lname = name.lower()
        if lname in _AUTH_HEADERS:
            value = mask_authorization(value)
        elif lname in _COOKIE_HEADERS:
            value = _mask_cookie_pairs(value, set_cookie=lname == "set-cookie")
        elif lname in _URL_HEADERS:
            value = mask_url(value)
        elif lname in _OPAQUE_HEADERS:
            value = mask_secret(value, 4)
        out.append((name, value))
    return out


def mask_text(text: str) -> str:
    """Mask secrets inside a body preview or an error message.

    Token JSON values, OAuth2 form fields, JWTs and `Bearer/Basic` credentials
    anywhere, and signed query strings inside links (quay's 302 carries its signed
    CDN URL in an HTML body too).
    """
    if not text:
        return text
    text = _JSON_SECRET_RE.sub(lambda m: m.group(1) + mask_secret(m.group(2)) + m.group(3), text)
    text = _AUTH_IN_TEXT_RE.sub(
        lambda m: f"{m.group(1)} {mask_secret(m.group(2), 4 if m.group(1) == 'Basic' else 8)}", text
    )
    text = _JWT_RE.sub(lambda m: mask_secret(m.group(0)), text)
    text = _QUERY_IN_TEXT_RE.sub(_mask_query_match, text)
    return text


def _mask_query_match(m: re.Match[str]) -> str:
    sep, name, value = m.group(1), m.group(2), m.group(3)
    if value and (is_secret_query_name(name) or name.lower() in _SECRET_KEYS):
        return f"{sep}{name}={mask_secret(value, 0)}"
    return m.group(0)


def decode_claims(token: str | None) -> dict[str, Any] | None:
    """A JWT's claims, unverified (for display only); None for an opaque token."""
    if not token or token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def token_from_body(body: str | None) -> str | None:
    """The token a token service issued: `token`, else `access_token` (OAuth2 form)."""
    if not body or "token" not in body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("token", "access_token"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def with_claims(ex: Exchange) -> Exchange:
    """`ex` with `token_claims` filled from its token body, secrets left as they are."""
    if ex.token_claims is not None:
        return ex
    token = token_from_body(ex.response_body_preview)
    claims = decode_claims(token) if token else None
    return dataclasses.replace(ex, token_claims=claims) if claims is not None else ex


def mask_exchange(ex: Exchange) -> Exchange:
    """A copy of `ex` with every secret masked and token claims kept for display."""
    ex = with_claims(ex)
    return dataclasses.replace(
        ex,
        url=mask_url(ex.url),
        request_headers=mask_headers(ex.request_headers),
        response_headers=mask_headers(ex.response_headers),
        request_body_preview=_mask_body(ex.request_body_preview),
        response_body_preview=_mask_body(ex.response_body_preview),
        error=mask_text(ex.error) if ex.error else ex.error,
        secrets_masked=True,
    )


def _mask_body(body: str | None) -> str | None:
    if not body:
        return body
    stripped = body.lstrip()
    # An OAuth2 token request form: grant_type=password&username=…&password=…
    if stripped and stripped[0] not in "{[<" and "=" in body and " " not in body.strip():
        pairs = parse_qsl(body, keep_blank_values=True)
        if pairs and any(k.lower() in _SECRET_KEYS for k, _ in pairs):
            return "&".join(
                f"{k}={ELLIPSIS if k.lower() in _SECRET_KEYS and v else v}" for k, v in _raw_pairs(body)
            )
    return mask_text(body)


def _raw_pairs(body: str) -> list[tuple[str, str]]:
    out = []
    for pair in body.strip().split("&"):
        k, _, v = pair.partition("=")
        out.append((k, v))
    return out
