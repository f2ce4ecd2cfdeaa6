"""JSON from the wire or a file, read with a size and a depth bound.

`json.loads` recurses once per nesting level in C, so 1,200 nested brackets (2 KB) reach
Python's recursion limit and raise RecursionError, which nobody catches; a 1 GB body is
read whole. `loads` refuses both before parsing, with a one-line `JSONBoundError`, in time
linear in the input: brackets are counted by one left-to-right scan over the few
characters that matter (quotes, escapes, brackets), never recursively.

It also keeps out what later breaks a writer: NaN/Infinity (not JSON, RFC 8259 §6) are
refused, and lone UTF-16 surrogate escapes (`"\\udcff"`, which cannot be written as
UTF-8; mitmproxy's lenient decoding and pulltrace's own older traces hold them) become
U+FFFD, as a strict UTF-8 decoder would make of the byte they stand for.
Bytes are decoded as JSON's RFC allows: UTF-8 with or without a BOM, and UTF-16/32 when
they carry a BOM or their zero bytes show it. This module imports only `errors`, so
every layer may use it.
"""

from __future__ import annotations

import codecs
import gc
import json
import re
import sys
from itertools import accumulate

from pulltrace.errors import UserError

DEFAULT_MAX_BYTES = 4 * 1024 * 1024  # containerd caps a manifest at 4 MiB
DEFAULT_MAX_DEPTH = 64
_GC_PAUSE_OVER = 256 * 1024

# A JSON string, its closing quote optional so an unterminated one is consumed to the end
# in one step instead of being retried at every later quote (which would be quadratic).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# Each bracket as one signed byte: +1 opens, -1 (0xff) closes.
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# Escapes, left to right (so `\\ud800` is an escaped backslash, then text): a high
# surrogate with its low half, or either half alone.
_ESCAPES = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\.",
    re.DOTALL,
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class JSONBoundError(UserError, ValueError):
    """JSON that is malformed, too big or too deep; the message names what was read."""


def decode(body: bytes, what: str = "JSON") -> str:
    """The text of a JSON document's bytes (UTF-8, or UTF-16/32 as RFC 8259's detection
    allows), or a JSONBoundError naming the first byte that is not."""
    encoding = "utf-8"
    for bom, name in _BOMS:
        if body.startswith(bom):
            encoding = name
            break
    else:
        if len(body) >= 2 and (body[0] == 0 or body[1] == 0):
            encoding = json.detect_encoding(body)
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as e:
        name = encoding.removesuffix("-sig").upper()
        raise JSONBoundError(f"{what} is not valid {name}: byte 0x{body[e.start]:02x} at offset {e.start}") from None


def loads(
    text: str | bytes | bytearray,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    what: str = "JSON",
) -> object:
    """Parse `text` as JSON, or raise JSONBoundError (one line, starting with `what`).

    Bytes count against `max_bytes` as given; text by its characters (a lower bound of
    its UTF-8 size)."""
    if len(text) > max_bytes:
        raise JSONBoundError(f"{what} is larger than {max_bytes} bytes ({len(text)})")
    if isinstance(text, (bytes, bytearray)):
        text = decode(bytes(text), what)
    text = text.removeprefix("\ufeff")
    if _SURROGATE_ESCAPE.search(text):
        text = _ESCAPES.sub(_replace_lone, text)
    check_depth(text, max_depth=max_depth, what=what)
    try:
        return _parse(text)
    except _NotANumber as e:
        raise JSONBoundError(f"{what} holds {e.args[0]}, which is not a JSON number") from None
    except json.JSONDecodeError as e:
        raise JSONBoundError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError:  # the only other one: an integer longer than int_max_str_digits
        raise JSONBoundError(f"{what} holds an integer too long to read "
                             f"(more than {sys.get_int_max_str_digits()} digits)") from None


def check_depth(text: str, *, max_depth: int = DEFAULT_MAX_DEPTH, what: str = "JSON") -> None:
    """Raise JSONBoundError when `text` nests deeper than max_depth. Strings are cut out
    first (brackets inside them do not count), then the brackets' running depth is
    summed, all in C: linear, no recursion. For valid JSON the count is exact; for invalid
    JSON it agrees with json's scanner up to its first error."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    outside = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = outside.translate(_STEP, _NOT_BRACKET)
    if max(accumulate(memoryview(brackets).cast("b")), default=0) > max_depth:
        raise JSONBoundError(f"{what} is nested deeper than {max_depth} levels")


def _replace_lone(m: re.Match[str]) -> str:
    token = m.group()
    return "\\ufffd" if len(token) == 6 else token


def _parse(text: str) -> object:
    """json.loads, with the cyclic GC paused for large input: parsing makes no cycles, but
    each million containers it makes would trigger full collections over everything
    alive, enough to turn 4 MiB of `[],[],…` from 0.4 s into 2 s."""
    if len(text) < _GC_PAUSE_OVER or not gc.isenabled():
        return json.loads(text, parse_constant=_refuse_constant)
    gc.disable()
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    finally:
        gc.enable()


class _NotANumber(ValueError):
    pass


def _refuse_constant(name: str) -> object:
    raise _NotANumber(name)
