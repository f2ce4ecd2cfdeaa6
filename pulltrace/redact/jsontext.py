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


def mask_json_strings(text: str, mask_string: Callable[[str], str],
                      mask_header: Callable[[str, str], str]) -> str:
    """Mask values of secret keys, `["Name", "value"]` and `{"name": …, "value": …}`
    header pairs, and every string literal that has escapes (through `mask_string`)."""
    if '"' not in text:
        return text
    out: list[str] = []
    last = 0
    secret_key: str | None = None  # a secret key whose value starts at value_at
    value_at = -1
    header_name: str | None = None  # a header whose value starts at header_at
    header_at = -1
    for m in _SCAN_RE.finditer(text):
        body, closed, colon = m.group(2), bool(m.group(3)), m.group(4)
        start = m.start(2) - 1
        if (start != value_at and start != header_at and "\\" not in body
                and not (closed and (colon or m.group(1)))):
            continue  # the common case: a plain string that is neither a key nor a header
        end = m.end(3)
        decoded = _decode(body)
        replacement: str | None = None
        if start == value_at and secret_key is not None:
            replacement = _masked_value(secret_key, body, decoded)
        elif start == header_at and header_name is not None and decoded is not None:
            masked = mask_header(header_name, decoded)
            replacement = _encode(masked) if masked != decoded else None
        elif decoded is not None and decoded is not body:
            masked = mask_string(decoded)
            replacement = _encode(masked) if masked != decoded else None
        if replacement is not None:
            out.append(text[last:start])
            out.append('"' + replacement + ('"' if closed else ""))
            last = end
        if not closed or decoded is None:
            continue
        if colon:
            norm = normalize(decoded)
            if is_secret_key(decoded) or norm in BASE64_AUTH_KEYS:
                secret_key, value_at = decoded, m.end(4)
                number = _NUMBER_RE.match(text, value_at)
                if number is not None:  # `"password": 123456`
                    out.append(text[last:value_at])
                    out.append(f'"{ELLIPSIS}"')
                    last = number.end()
            elif norm == "name":
                header_name, header_at = _har_header(text, m.end(4))
        elif m.group(1):
            header_name, header_at = _pair_header(text, decoded, end)
    if out:
        out.append(text[last:])
        text = "".join(out)
    return _mask_secret_members(text)


# `"token": "…"` found from any quote, whatever came before it: free text with a stray
# quote (an error message, a cut preview) puts the scanner above out of step. The key
# is at most 64 characters and must hold a secret word, so each quote costs a bounded
# look; the value is then masked like any secret key's.
_MEMBER_RE = re.compile(
    r'"(?=[^"\n]{0,64}?(?i:tok|pass|secret|pwd|auth|key|cred|sig|cookie|jwt))([^"\\\n]{1,64}+)"'
    r'[ \t\r\n]*+:[ \t\r\n]*+(?=["0-9-])'
)


def _mask_secret_members(text: str) -> str:
    if '"' not in text:
        return text
    out: list[str] = []
    last = 0
    for m in _MEMBER_RE.finditer(text):
        key = m.group(1)
        if m.start() < last or not (is_secret_key(key) or normalize(key) in BASE64_AUTH_KEYS):
            continue
        at = m.end()
        if text.startswith('"', at):
            value = _LITERAL_RE.match(text, at)
            assert value is not None
            replacement = _masked_value(key, value.group(1), _decode(value.group(1)))
            if replacement is not None:
                out.append(text[last:at])
                out.append('"' + replacement + ('"' if value.group(2) else ""))
                last = value.end()
        else:
            number = _NUMBER_RE.match(text, at)
            if number is not None:
                out.append(text[last:at])
                out.append(f'"{ELLIPSIS}"')
                last = number.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# A string literal, optionally after the `[` that opens a `["Name", "value"]` pair, and
# the colon after it when it is a key.
_SCAN_RE = re.compile(
    r'(\[[ \t\r\n]*+)?"([^"\\\n]*+(?:\\.[^"\\\n]*+)*+)("?)([ \t\r\n]*+:[ \t\r\n]*+)?'
)


def _masked_value(key: str, body: str, decoded: str | None) -> str | None:
    if decoded is None:  # a cut-off escape: mask what came before it
        return mask_secret(body.split("\\", 1)[0]) or ELLIPSIS
    if not decoded:
        return None
    if normalize(key) in BASE64_AUTH_KEYS and not _BASE64_RE.fullmatch(decoded):
        return None
    masked = mask_secret_value(key, decoded)
    return _encode(masked) if masked != decoded else None


def _pair_header(text: str, name: str, end: int) -> tuple[str | None, int]:
    """`["Name", "value"]` (a trace's headers): where the value starts, if this is one."""
    comma = _COMMA_RE.match(text, end)
    if comma is None or not text.startswith('"', comma.end()):
        return None, -1
    value = _LITERAL_RE.match(text, comma.end())
    if value is None or not value.group(2) or not _CLOSE_RE.match(text, value.end()):
        return None, -1
    return name, comma.end()


def _har_header(text: str, at: int) -> tuple[str | None, int]:
    """`{"name": "X-Auth-Token", "value": "…"}` (HAR): where the value starts, if this is one."""
    name = _LITERAL_RE.match(text, at)
    if name is None or not name.group(2):
        return None, -1
    decoded = _decode(name.group(1))
    comma = _COMMA_RE.match(text, name.end())
    if decoded is None or comma is None:
        return None, -1
    key = _LITERAL_RE.match(text, comma.end())
    if key is None or _decode(key.group(1)) != "value":
        return None, -1
    colon = _COLON_RE.match(text, key.end())
    if colon is None or not text.startswith('"', colon.end()):
        return None, -1
    return decoded, colon.end()
