"""Small formatters shared by every view: sizes, durations, digests, URLs that fit."""

from __future__ import annotations

import json
import re
import unicodedata
from urllib.parse import unquote

from pulltrace import jsonbound
from pulltrace.urls import host_port, split_url

ELLIPSIS = "…"
# What a terminal acts on instead of printing: C0 controls (ESC starts a cursor or
# colour sequence, BEL, BS, CR rewrite the line), DEL, C1 controls (0x9b is an 8-bit CSI),
# line and paragraph separators, and the Unicode bidi controls that reorder what is shown
# (CVE-2021-42574, "Trojan Source"). Escaped with str.translate: one pass, in C.
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x2028, 0x202F),
             *range(0x2066, 0x206A)]
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_ESCAPES = {c: _NAMED.get(c) or (f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}") for c in _CONTROLS}
_ESCAPES_KEEP_LF = {c: e for c, e in _ESCAPES.items() if c != 0x0A}
_CONTROL_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _CONTROLS) + "]")
_DIGEST_RE = re.compile(r"\b(sha256|sha384|sha512):([0-9a-f]{16,})")
# The storage path a registry redirects blobs to spells the digest without its
# algorithm prefix: /docker/registry/v2/blobs/sha256/5b/5b0d5902…/data.
_BARE_HEX_RE = re.compile(r"(?<=/)([0-9a-f]{32,})(?=/|$|\?)")


def terminal_safe(text: str, *, keep_newlines: bool = False) -> str:
    """Text from the wire made safe to print on a terminal: every control character, and
    every bidi control, shown as its escape (`\\x1b`, `\\r`, `\\u202e`) so a registry
    cannot move the cursor, recolour or rewrite the screen, or reorder a line. With
    `keep_newlines` (a whole rendered page) LF and CRLF stay line ends (a CRLF body stays
    as recorded; a CR alone, which returns the cursor, is escaped); else a newline
    becomes `\\n` (a table cell)."""
    if not _CONTROL_RE.search(text):
        return text
    if not keep_newlines:
        return text.translate(_ESCAPES)
    return "\r\n".join(part.translate(_ESCAPES_KEEP_LF) for part in text.split("\r\n"))


def human_bytes(n: int | None) -> str:
    """1536 -> '1.5 KiB'; None -> '' (unknown is not zero)."""
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # unreachable


def human_ms(ms: float | None) -> str:
    """Milliseconds for a table: '12 ms', '1.25 s'; None -> ''."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def short_digest(text: str, keep: int = 12) -> str:
    """Shorten every digest in text to its first `keep` hex digits, so it stays recognisable."""
    text = _DIGEST_RE.sub(lambda m: f"{m.group(1)}:{m.group(2)[:keep]}{ELLIPSIS}", text)
    return _BARE_HEX_RE.sub(lambda m: f"{m.group(1)[:keep]}{ELLIPSIS}", text)


# `docker/20.10.24+dfsg1 go/go1.19.8 …`, `containerd/1.6.20~ds1`, `skopeo/1.9.3`: the first
# product token of a User-Agent, name and version.
_PRODUCT_RE = re.compile(r"^([A-Za-z][\w.+-]*)/v?(\d+)(?:\.(\d+))?")


def short_client(label: str) -> str:
    """'docker/20.10.24+dfsg1 (127.0.0.1)' -> 'docker 20.10': the client's name and
    major.minor version, short enough for a diagram lane; anything else unchanged."""
    m = _PRODUCT_RE.match(label.strip())
    if not m:
        return label.strip()
    name, major, minor = m.groups()
    return f"{name} {major}.{minor}" if minor is not None else f"{name} {major}"


def middle(text: str, width: int) -> str:
    """Cut the middle out of text so it fits width, keeping both ends readable."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def host_of(url: str) -> str:
    """The host[:port] of a URL, without userinfo; '' when it has none or cannot be split."""
    return host_port(url)


def path_of(url: str) -> str:
    """Path plus query of a URL (what the request line carries); a URL that cannot be
    split (an unclosed `[`, a port that is not a number) is returned whole."""
    try:
        parts = split_url(url)
    except ValueError:
        return url
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def fit_url(url: str, width: int, base_host: str = "") -> str:
    """A URL for a narrow column, cut where it loses least.

    Drop the scheme, and the host when it is the registry's own; decode the query
    (scope=repository:library/alpine:pull reads better than %3A); shorten digests;
    shorten a foreign host (the wide view and the summary carry it whole); shorten
    the query from its end (the path says what was asked); last, cut the middle of
    the path, keeping both ends.
    """
    host = host_of(url)
    path, sep, query = path_of(url).partition("?")
    path = path + sep + unquote(query)
    prefix = "" if not host or host == base_host else host
    if len(prefix) + len(path) <= width:
        return prefix + path
    full = path
    for keep in (12, 8):
        path = short_digest(full, keep)
        if len(prefix) + len(path) <= width:
            return prefix + path
    if prefix:
        prefix = middle(prefix, max(8, min(len(prefix), width // 3)))
    room = width - len(prefix)
    path, sep, query = path.partition("?")
    if len(path) + len(sep) + len(query) <= room:
        return prefix + path + sep + query
    if sep and len(path) + 2 < room:
        return prefix + path + "?" + query[: room - len(path) - 2] + ELLIPSIS
    if sep:
        return prefix + cut_path(path, room - 2) + "?" + ELLIPSIS
    return prefix + cut_path(path, room)


def cut_path(path: str, width: int) -> str:
    """Cut the middle of a path but keep whole trailing segments (the digest and
    `/data` of a blob URL) when they fit in three quarters of the width."""
    if len(path) <= width:
        return path
    segments = path.split("/")
    tail = ""
    for i in range(len(segments) - 1, 0, -1):
        candidate = "/".join(segments[i:])
        if len(candidate) + 1 > width * 3 // 4:
            break
        tail = candidate
    if not tail:
        return middle(path, width)
    head = path[: len(path) - len(tail) - 1]
    return middle(head, width - len(tail) - 1) + "/" + tail


def _strip_scheme(url: str) -> str:
    for prefix in ("https://", "http://"):
        if url.startswith(prefix):
            return url[len(prefix):]
    return url


def pretty_body(text: str | None) -> str | None:
    """Pretty-print a JSON body preview; any other text is returned unchanged."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            # Bounded: a preview nested 1,200 deep would otherwise hit the recursion limit.
            data = jsonbound.loads(stripped, max_bytes=max(len(stripped), 1), what="body")
        except jsonbound.JSONBoundError:
            return text
        return json.dumps(data, indent=2, ensure_ascii=False)
    return text


def display_width(text: str) -> int:
    """Terminal columns text takes: East Asian wide characters take two."""
    if text.isascii():  # most table cells: one column a character
        return len(text)
    # Only the characters outside ASCII are looked up: a Unicode table may call any of them wide.
    return len(text) + sum(unicodedata.east_asian_width(c) in ("W", "F") for c in _NOT_ASCII.findall(text))


_NOT_ASCII = re.compile("[^\x00-\x7f]")


def wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """textwrap for a terminal: measures display width (a Chinese label takes two
    columns per character) and breaks words longer than a line."""
    lines: list[str] = []
    line, used, words = first, display_width(first), 0
    for word in text.split():
        w = display_width(word)
        gap = 1 if words else 0
        if used + gap + w <= width:
            line += " " * gap + word
            used += gap + w
            words += 1
            continue
        if words:
            lines.append(line)
            line, used, words = rest, display_width(rest), 0
        while used + w > width:  # a word longer than a line
            cut, room = 0, width - used
            while cut < len(word) and display_width(word[cut]) <= room:
                room -= display_width(word[cut])
                cut += 1
            if cut == 0 and used == display_width(rest):
                cut = 1  # a character wider than the whole line: emit it anyway
            lines.append(line + word[:cut])
            word = word[cut:]
            w = display_width(word)
            line, used = rest, display_width(rest)
        if word:
            line += word
            used += w
            words += 1
    if words or not lines:
        lines.append(line)
    return lines
