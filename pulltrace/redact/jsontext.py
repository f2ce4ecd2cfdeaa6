"""Secrets inside JSON text, found by key in any spelling and by shape in every string.

A scanner over string literals, not a parser: previews are cut at a size limit and
error bodies are often not JSON at all, so the text is masked where it stands and
keeps its formatting byte for byte, except the masked strings. A key is decoded
before it is compared (`"\\u0074oken"` is `"token"`); a string with escapes is
decoded, masked as text (a JWT behind `\\u002e`, a signed URL behind Go's `\\u0026`,
JSON escaped inside JSON), and encoded again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from pulltrace.redact.names import BASE64_AUTH_KEYS, is_secret_key, normalize
from pulltrace.redact.shapes import ELLIPSIS, mask_authorization, mask_secret

# A string literal, closed or cut off by the end of the text or of the line (JSON
# strings hold no raw newline). Possessive and deterministic: each `\` starts one
# escape, everything else is one character, so the scan is linear.
_LITERAL_RE = re.compile(r'"([^"\\\n]*+(?:\\.[^"\\\n]*+)*+)("?)')
_COLON_RE = re.compile(r"[ \t\r\n]*+:[ \t\r\n]*+")
_COMMA_RE = re.compile(r"[ \t\r\n]*+,[ \t\r\n]*+")
_CLOSE_RE = re.compile(r"[ \t\r\n]*+\]")
_NUMBER_RE = re.compile(r"-?[0-9][0-9.eE+-]*+")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]{8,}+={0,2}")


def _decode(body: str) -> str | None:
    if "\\" not in body:
        return body
    try:
        value = json.loads(f'"{body}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _encode(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def mask_secret_value(key: str, value: str) -> str:
    """The masked form of the value of secret key `key` (already known to be one)."""
    if " " in value.strip() and normalize(key) in ("authorization", "proxyauthorization"):
        return mask_authorization(value)
    return mask_secret(value)


def _is_header_name_pair(text: str, start: int) -> bool:
    """Whether the literal at `start` opens a `["Name", "value"]` pair (the trace's headers)."""
    i = start - 1
    stop = max(0, start - 256)
    while i >= stop and text[i] in " \t\r\n":
        i -= 1
    return i >= 0 and text[i] == "["


def mask_json_strings(text: str, mask_string: Callable[[str], str],
                      mask_header: Callable[[str, str], str]) -> str:
    """Mask values of secret keys, `[name, value]` and `{"name":…, "value":…}` header
    pairs, and every string literal that has escapes (through `mask_string`)."""
    if '"' not in text:
        return text
    out: list[str] = []
    last = 0
    secret_key: str | None = None  # the key whose value comes next
    value_at = -1  # where that value starts
    header_name: str | None = None  # a header name whose value comes next
    header_at = -1
    for m in _LITERAL_RE.finditer(text):
        start, end = m.span()
        body, closed = m.group(1), bool(m.group(2))
        replacement: str | None = None
        decoded = _decode(body)
        if start == value_at and secret_key is not None:
            if decoded is not None and decoded:
                if normalize(secret_key) not in BASE64_AUTH_KEYS or _BASE64_RE.fullmatch(decoded):
                    replacement = _encode(mask_secret_value(secret_key, decoded))
            elif decoded is None and body:
                replacement = mask_secret(body.split("\\", 1)[0]) or ELLIPSIS
            secret_key = None
        elif start == header_at and header_name is not None:
            if decoded is not None:
                masked = mask_header(header_name, decoded)
                if masked != decoded:
                    replacement = _encode(masked)
            header_name = None
        if replacement is None and decoded is not None and decoded is not body:
            masked = mask_string(decoded)
            if masked != decoded:
                replacement = _encode(masked)
        if replacement is not None:
            out.append(text[last:start])
            out.append('"' + replacement + ('"' if closed else ""))
            last = end
        if closed:
            colon = _COLON_RE.match(text, end)
            if colon is not None and decoded is not None:
                if is_secret_key(decoded) or normalize(decoded) in BASE64_AUTH_KEYS:
                    secret_key, value_at = decoded, colon.end()
                    number = _NUMBER_RE.match(text, value_at)
                    if number is not None:  # `"password": 123456`
                        out.append(text[last:value_at])
                        out.append(f'"{ELLIPSIS}"')
                        last = number.end()
                        secret_key = None
                elif normalize(decoded) == "name":  # HAR: {"name": "X-Auth-Token", "value": "…"}
                    header_name, header_at = None, -1
                    _remember = colon.end()
                    nm = _LITERAL_RE.match(text, _remember)
                    if nm is not None and nm.group(2):
                        name = _decode(nm.group(1))
                        after = _COMMA_RE.match(text, nm.end())
                        if name is not None and after is not None:
                            key = _LITERAL_RE.match(text, after.end())
                            if key is not None and _decode(key.group(1)) == "value":
                                value_colon = _COLON_RE.match(text, key.end())
                                if value_colon is not None and text.startswith('"', value_colon.end()):
                                    header_name, header_at = name, value_colon.end()
            elif decoded is not None and _is_header_name_pair(text, start):
                comma = _COMMA_RE.match(text, end)
                if comma is not None and text.startswith('"', comma.end()):
                    value = _LITERAL_RE.match(text, comma.end())
                    if value is not None and value.group(2) and _CLOSE_RE.match(text, value.end()):
                        header_name, header_at = decoded, comma.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)
