"""The claims of the JWT a token service issued, decoded before the token is masked,
so the scopes it granted stay visible when the token itself is not."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jwt

from pulltrace.model import Exchange
from pulltrace.redact.names import normalize
from pulltrace.redact.prints import with_prints

# Token service answers: `token` (distribution token auth), `access_token` (OAuth2).
_TOKEN_KEYS = ("token", "accesstoken")


def decode_claims(token: str | None) -> dict[str, Any] | None:
    """A JWT's claims, unverified (for display only); None for an opaque token."""
    if not token or token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def token_from_body(body: str | None) -> str | None:
    """The token a token service issued: `token`, else `access_token`, in any casing."""
    if not body or "oken" not in body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    found = {normalize(k): v for k, v in data.items() if isinstance(k, str)}
    for key in _TOKEN_KEYS:
        value = found.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def with_claims(ex: Exchange) -> Exchange:
    """`ex` with `token_claims` filled from its token body and its credential prints
    (`pulltrace.redact.prints`), secrets left as they are: every source calls this, or
    `mask_exchange` which does, while the secrets are still there."""
    ex = with_prints(ex)
    if ex.token_claims is not None:
        return ex
    token = token_from_body(ex.response_body_preview)
    claims = decode_claims(token) if token else None
    return dataclasses.replace(ex, token_claims=claims) if claims is not None else ex
