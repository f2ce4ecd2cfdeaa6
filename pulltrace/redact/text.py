"""Masking free text, URLs, JSON text and headers: every pass, in one order.

Order matters only for readability: JSON values are masked by key first (so a token
keeps its `eyJhbGci…` prefix), then shapes anywhere. Every pass is idempotent, so
masking twice (at the source and again on output) changes nothing more.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from pulltrace.model import Headers
from pulltrace.redact.jsontext import mask_json_strings
from pulltrace.redact.names import AUTH_HEADERS, COOKIE_HEADERS, is_plain_header, is_secret_header
from pulltrace.redact.shapes import (
    looks_like_credential,
    mask_api_keys,
    mask_authorization,
    mask_cookie,
    mask_jwts,
    mask_named_lines,
    mask_pairs,
    mask_schemes,
    mask_secret,
    mask_userinfo,
)


def _mask_shapes(text: str) -> str:
    text = mask_userinfo(text)
    text = mask_schemes(text)
    text = mask_jwts(text)
    text = mask_api_keys(text)
    text = mask_pairs(text)
    return mask_named_lines(text)


def mask_text(text: str) -> str:
    """Mask every secret in free text: a body preview, an error, a finding, a note.

    Token JSON values by key (any casing or escape), OAuth2 form fields, JWTs,
    vendor API keys and `Bearer/Basic` credentials anywhere, URL userinfo, signed
    query strings in links (quay's 302 carries its signed CDN URL in an HTML body
    too), and `Name: value` lines that name a credential.
    """
    if not text or _TRIGGER_RE.search(text) is None:
        return text
    if len(text) <= _CACHED_LEN:
        return _mask_short(text)
    return _mask_all(text)


# Every pass needs one of these to find anything: a quote (JSON), `@` (userinfo), `=`
# or an encoded one (pairs), `: ` (named lines), `eyJ` (JWTs), a scheme, a vendor
# prefix. Most strings of a trace (digests, kinds, paths, status lines) hold none and
# cost one scan.
_TRIGGER_RE = re.compile(
    r'["=@]|%3[DdFf]|%26|: |:\t|eyJ|(?i:bearer|basic|token)'
    r"|gh[pousr]_|github_pat_|glpat-|dckr_pat_|AKIA|ASIA|AIza|xox[abprs]-|npm_|AKCp"
)
# Headers and URLs repeat across a capture (every blob GET carries the same token):
# short strings are masked once. Bounded (4,096 strings of at most 512 characters per
# cache), so memory does not grow with the capture.
_CACHED_LEN = 512


def _mask_all(text: str) -> str:
    text = mask_json_strings(text, mask_text, mask_header_value)
    return _mask_shapes(text)


_mask_short = lru_cache(maxsize=4096)(_mask_all)


def mask_url(url: str) -> str:
    """Mask signed-URL query values (`?Expires=…&Signature=…`), userinfo passwords and
    JWTs in the path. The same text as `mask_text(url)`: a Location and the request
    that follows it stay equal after masking, whichever of the two masked them."""
    return mask_text(url)


def mask_json_text(text: str) -> str:
    """Mask a JSON document (a trace, a HAR, a JSONL line, a body) where it stands.

    Valid JSON stays valid JSON with the same formatting; if an edit would ever break
    it, the document is parsed, masked value by value, and written again.
    """
    masked = mask_text(text)
    if masked == text:
        return text
    try:
        json.loads(masked)
    except ValueError:
        try:
            data = json.loads(text)
        except ValueError:
            return masked  # not JSON to begin with
        return json.dumps(_mask_json_value(data), ensure_ascii=False)
    return masked


def _mask_json_value(value: Any, key: str | None = None) -> Any:
    from pulltrace.redact.jsontext import mask_secret_value
    from pulltrace.redact.names import is_secret_key

    if isinstance(value, str):
        if key is not None and is_secret_key(key):
            return mask_secret_value(key, value)
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(k): _mask_json_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json_value(v) for v in value]
    return value


def mask_header_value(name: str, value: str) -> str:
    """One header's value masked by its name, then by its shape."""
    if len(value) <= _CACHED_LEN:
        return _mask_header_short(name, value)
    return _mask_header(name, value)


def _mask_header(name: str, value: str) -> str:
    lname = name.lower().strip()
    if lname in AUTH_HEADERS:
        return mask_authorization(value)
    if lname in COOKIE_HEADERS:
        return mask_cookie(value, set_cookie=lname == "set-cookie")
    if is_secret_header(lname):
        scheme, sep, _ = value.strip().partition(" ")
        if sep and scheme.isalpha() and scheme.lower() in ("bearer", "basic", "token"):
            return mask_authorization(value)
        return mask_secret(value, 4)
    masked = mask_text(value)
    if masked == value and not is_plain_header(lname) and looks_like_credential(value.strip()):
        return mask_secret(value, 4)
    return masked


_mask_header_short = lru_cache(maxsize=4096)(_mask_header)


def mask_headers(headers: Headers) -> Headers:
    """Mask credentials, cookies and signed URLs in headers; names and order stay."""
    return [(name, mask_header_value(name, value)) for name, value in headers]
