"""Fingerprints of credentials, taken where exchanges enter the model, before masking.

The token auth spec links a token response to the requests that use it by the token
itself: the response body issued it, each request presents it as `Authorization: Bearer`.
Masking hides that value from the engine, so each source fingerprints it first
(`with_prints`, called by `with_claims` and so by `mask_exchange`).

A print is blake2b keyed with 16 random bytes made once per process, truncated to 12 hex
digits (48 bits: no two tokens of one capture share one). The key is never written and
no output writes a print, so a print cannot be tested against a guessed password (a Basic
credential is weak where a JWT is not) nor compared across two traces.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets

from pulltrace.auth import EMPTY_BASIC
from pulltrace.model import CredentialPrints, Exchange
from pulltrace.redact.names import normalize
from pulltrace.redact.shapes import ELLIPSIS

_KEY = secrets.token_bytes(16)
PRINT_HEX = 12
# RFC 7235's token68: what a Bearer or Basic credential is made of. A masked credential
# (`eyJhbGci…`) is not one, so an exchange masked before (a trace read back) gets no print.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# The members a token service issues a token in: `token` (distribution token auth),
# `access_token` (OAuth2). Docker Hub sends both; distribution's client presents
# access_token when both are set, so either may come back.
_ISSUED_KEYS = frozenset({"token", "accesstoken"})
# A token body is a few KiB; a preview larger than this is no token response.
_MAX_BODY = 256 * 1024
_NONE_ISSUED: frozenset[str] = frozenset()
NO_PRINTS = CredentialPrints()


def fingerprint(scheme: str, credential: str) -> str:
    """The print of one credential under one scheme (`bearer`, `basic`)."""
    digest = hashlib.blake2b(f"{scheme.lower()} {credential}".encode(), key=_KEY, digest_size=PRINT_HEX // 2)
    return digest.hexdigest()


def presented_print(authorization: str | None) -> str | None:
    """The print of an Authorization header's credential; None for no header, skopeo's
    empty Basic (anonymous), another scheme, or a credential already masked."""
    if not authorization or ELLIPSIS in authorization:
        return None  # none, or masked already
    scheme, _, credential = authorization.strip().partition(" ")
    scheme, credential = scheme.lower(), credential.strip()
    if scheme not in ("bearer", "basic") or not _TOKEN68.fullmatch(credential):
        return None
    if scheme == "basic" and credential.lower() in EMPTY_BASIC:
        return None
    return fingerprint(scheme, credential)


def issued_prints(body: str | None) -> frozenset[str]:
    """The prints of the tokens a token response body issued, as they will be presented."""
    if not body or "oken" not in body or len(body) > _MAX_BODY or not body.lstrip().startswith("{"):
        return _NONE_ISSUED
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _NONE_ISSUED
    if not isinstance(data, dict):
        return _NONE_ISSUED
    return frozenset(
        fingerprint("bearer", value) for key, value in data.items()
        if isinstance(key, str) and isinstance(value, str) and normalize(key) in _ISSUED_KEYS
        and _TOKEN68.fullmatch(value)
    )


def credential_prints(ex: Exchange) -> CredentialPrints:
    """What `ex` presented and issued, read from its (unmasked) headers and body."""
    presented = presented_print(ex.request_header("authorization"))
    status = ex.status
    issued = issued_prints(ex.response_body_preview) if status is not None and 200 <= status < 300 else _NONE_ISSUED
    if presented is None and not issued:
        return NO_PRINTS  # most exchanges: one shared value, nothing allocated
    return CredentialPrints(presented=presented, issued=issued)


def with_prints(ex: Exchange) -> Exchange:
    """`ex` with its prints, taken while its secrets are still there (kept if it has them)."""
    if ex.prints is not None:
        return ex
    prints = credential_prints(ex)
    if prints is NO_PRINTS:
        return ex
    return dataclasses.replace(ex, prints=prints)
