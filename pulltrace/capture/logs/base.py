"""What every log reader shares: bounded line reading, counts, and the import it hands back.

A log is read one line at a time, each line capped (a corrupt file can hold a gigabyte
without a newline), decoded as UTF-8 with bad bytes replaced, so memory stays bounded and
no byte sequence can stop the import. A line no reader understands is counted, never fatal.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pulltrace.model import Exchange

# Longer lines are skipped and counted: a registry URL with a signed query string is a few
# KiB; a containerd `do request` line with every header rarely passes 8 KiB.
MAX_LINE = 64 * 1024


class LineParser(Protocol):
    """One log family's reader: fed lines in file order, hands back finished exchanges.

    `feed` returns the exchanges a line completes (a reader that pairs a request line with
    its response line returns them on the second), or None for a line it does not
    understand. `finish` returns what is still waiting at the end of the file.
    """

    def feed(self, line: str, lineno: int) -> list[Exchange] | None: ...

    def finish(self) -> list[Exchange]: ...

    # A reader may also offer `notes() -> list[str]`: what it learned about the file as a whole.


@dataclass(frozen=True)
class LogFormat:
    """A log format pulltrace reads: how to recognise a line of it, and what it cannot show."""

    name: str
    label: str
    vantage: str  # who wrote the log: "the registry", "a proxy in front of the registry", "the client"
    sniff: Callable[[str], bool]
    parser: Callable[[Path], LineParser]  # given the file, a fresh reader
    cannot_see: tuple[str, ...]
    sample: str  # one line of it, for the README and `--log-format` help
    coarse_time: bool = False  # timestamps to the second only
    early: bool = False  # placed at the start of its second (its requests cause others'), else the end


@dataclass
class LogImport:
    """A log being read: its exchanges (a generator: read as you iterate) and what was skipped.

    The counts are final once `exchanges` is exhausted; `notes()` then says, in a trace
    note, which vantage point the file was seen from, what it cannot show, and how many
    lines were not understood.
    """

    path: Path
    format: LogFormat
    exchanges: Iterator[Exchange]
    lines: int = 0
    not_understood: int = 0
    first_not_understood: int | None = None
    too_long: int = 0
    extra_notes: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        fmt = self.format
        out = [
            f"{self.path.name}: {fmt.label}, seen from {fmt.vantage}; such a log cannot show "
            + ", ".join(fmt.cannot_see) + "."
        ]
        if fmt.coarse_time:
            out.append(
                f"{self.path.name}: times are to the second; requests logged in the same second keep "
                + ("the log's order, at the start of that second." if fmt.early else
                   "the log's order; downloads from storage go at the end of that second, after the redirects "
                   "another log may show in it.")
            )
        out.extend(self.extra_notes)
        if self.not_understood:
            noun = "line" if self.not_understood == 1 else "lines"
            text = (f"{self.path.name}: {self.not_understood} {noun} not understood, "
                    f"first at line {self.first_not_understood}")
            if self.too_long:
                text += f" ({self.too_long} longer than {MAX_LINE // 1024} KiB)"
            out.append(text + ".")
        return out


def read_lines(f: io.BufferedIOBase, counts: LogImport) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for every line; text None for a line that cannot be a log line
    (too long, or binary: a NUL byte). Bad UTF-8 bytes become U+FFFD."""
    lineno = 0
    while True:
        raw = f.readline(MAX_LINE + 1)
        if not raw:
            return
        lineno += 1
        counts.lines = lineno
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(MAX_LINE)
            counts.too_long += 1
            yield lineno, None
            continue
        if b"\x00" in raw:
            yield lineno, None
            continue
        yield lineno, raw.decode("utf-8", "replace").rstrip("\r\n")


def run(parser: LineParser, lines: Iterable[tuple[int, str | None]], counts: LogImport) -> Iterator[Exchange]:
    """Drive `parser` over `lines`, counting what it does not understand."""
    for lineno, text in lines:
        got = parser.feed(text, lineno) if text is not None and text.strip() else ([] if text is not None else None)
        if got is None:
            counts.not_understood += 1
            if counts.first_not_understood is None:
                counts.first_not_understood = lineno
            continue
        yield from got
    yield from parser.finish()
    notes = getattr(parser, "notes", None)
    if notes is not None:
        counts.extra_notes.extend(notes())


# -- small shared parsing helpers ---------------------------------------------------------

_GO_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0,
                "h": 3600000.0}


def go_duration_ms(text: str) -> float | None:
    """`2.402815ms`, `1m2.5s`, `750µs` (Go's time.Duration.String) in milliseconds."""
    text = text.strip()
    pos, total = 0, 0.0
    for m in _GO_DURATION_RE.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _GO_UNITS_MS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        return None
    return round(total, 6)


_ISO_RE = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def iso_time(text: str) -> float | None:
    """An RFC 3339 time (nanoseconds allowed, `Z` or an offset) as Unix time."""
    m = _ISO_RE.match(text.strip())
    if not m:
        return None
    seconds = _iso_seconds(m.group(1), m.group(3))
    if seconds is None:
        return None
    return seconds + float("0." + m.group(2)) if m.group(2) else seconds


@functools.lru_cache(maxsize=64)
def _iso_seconds(stamp: str, zone: str | None) -> float | None:
    try:
        base = datetime.fromisoformat(stamp.replace(" ", "T"))
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    else:
        offset = 0
    return base.replace(tzinfo=UTC).timestamp() - offset


def unescape_log_text(text: str) -> str:
    r"""Undo the escaping access logs apply: nginx writes `\x22` and `\x5C`, Apache `\"`
    and `\\`, Go's quoting `\\(`."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "x" and i + 3 < n + 0 and re.match(r"[0-9A-Fa-f]{2}", text[i + 2 : i + 4]):
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            if nxt in "\"\\":
                out.append(nxt)
                i += 2
                continue
            if nxt in "nt":
                out.append("\n" if nxt == "n" else "\t")
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)


def host_placeholder(path: Path) -> str:
    """The host shown for a log that names none (nginx's combined format has no $host):
    the file's name under `.invalid` (RFC 2606), so nobody mistakes it for a real one."""
    stem = re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-") or "log"
    return f"{stem}.invalid"
