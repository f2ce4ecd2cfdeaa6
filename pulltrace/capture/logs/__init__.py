"""Server-side and runtime logs as traffic: access logs, registry logs, containerd debug logs.

Many users cannot put a proxy in front of their daemons but can read their registry's,
proxy's or runtime's log. Each format is recognised by its content (`detect`), read as a
stream of lines in bounded memory (`read_log`), and turned into the same Exchanges a
capture gives, so the ordinary pipeline makes the same sessions of them. What a log does
not record stays unrecorded (no invented header, body or token); the trace notes say what
the file's vantage point cannot show, and how many lines were not understood.

Each exchange's id is `<file>:<line>`, the line it was read from (the first, when two
lines describe one request), so every step names where it was seen.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path

from pulltrace.capture.logs.base import MAX_LINE, LogFormat, LogImport, read_lines, run
from pulltrace.capture.logs.formats import FORMATS
from pulltrace.errors import UserError
from pulltrace.model import Exchange
from pulltrace.redact import mask_exchange, with_claims

__all__ = ["FORMATS", "LogFormat", "LogImport", "LogFormatError", "detect", "read_log"]

# How much of a file detection looks at: enough lines to outvote a few start-up lines.
_SNIFF_LINES = 200
_SNIFF_BYTES = 1024 * 1024

# A format whose files also hold another's lines: distribution writes combined access
# lines beside its own, dockerd embeds containerd's.
_CONTAINS = {"distribution": ("combined",), "distribution-json": ("combined",), "dockerd": ("containerd",)}


class LogFormatError(UserError, ValueError):
    """A log format name pulltrace does not know."""


def format_named(name: str) -> LogFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise LogFormatError(f"unknown log format {name!r}; known: {', '.join(FORMATS)}") from None


def open_log(path: str | os.PathLike[str]) -> io.BufferedIOBase:
    """The file's bytes, gunzipped as they are read when it is gzip (a rotated `access.log.2.gz`)."""
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")
    f.seek(0)
    return f


def sniff_counts(path: str | os.PathLike[str]) -> dict[str, int]:
    """How many of the first lines of `path` each format recognises."""
    counts = {name: 0 for name in FORMATS}
    with open_log(path) as f:
        budget = _SNIFF_BYTES
        seen = 0
        while seen < _SNIFF_LINES and budget > 0:
            raw = f.readline(MAX_LINE + 1)
            if not raw:
                break
            budget -= len(raw)
            if b"\x00" in raw or len(raw) > MAX_LINE:
                continue
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip():
                continue
            seen += 1
            for name, fmt in FORMATS.items():
                if fmt.sniff(line):
                    counts[name] += 1
    return counts


def detect(path: str | os.PathLike[str]) -> tuple[LogFormat, list[str]] | None:
    """The format of `path` and the others it also looked like, or None if it is no log."""
    counts = sniff_counts(path)
    for outer, inner in _CONTAINS.items():
        if counts[outer]:
            for name in inner:
                counts[name] = 0
    ranked = sorted((n for n in counts if counts[n]), key=lambda n: -counts[n])
    if not ranked:
        return None
    return FORMATS[ranked[0]], ranked[1:]


def read_log(path: str | os.PathLike[str], *, fmt: str | None = None, show_secrets: bool = False) -> LogImport:
    """Read `path` as a log (of format `fmt`, else the one its content shows).

    The returned import's `exchanges` is a generator that reads the file as it is
    iterated; secrets are masked as each exchange is made (signed URLs in access logs,
    tokens in query strings) unless `show_secrets`.
    """
    p = Path(path)
    others: list[str] = []
    if fmt is not None:
        chosen = format_named(fmt)
    else:
        found = detect(p)
        if found is None:
            raise UserError(f"{p}: not a log format pulltrace reads ({', '.join(FORMATS)})")
        chosen, others = found
    log = LogImport(path=p, format=chosen, exchanges=iter(()))
    if others:
        log.extra_notes.append(
            f"{p.name}: read as {chosen.name}; some lines also looked like {', '.join(others)} "
            "(use --log-format NAME to choose)."
        )
    log.exchanges = _stream(p, chosen, log, show_secrets)
    return log


def _stream(path: Path, fmt: LogFormat, log: LogImport, show_secrets: bool) -> Iterator[Exchange]:
    with open_log(path) as f:
        for ex in run(fmt.parser(path), read_lines(f, log), log):
            yield with_claims(ex) if show_secrets else mask_exchange(ex)
