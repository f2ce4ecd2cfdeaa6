"""pulltrace.jsonl: the stream a long-running capture writes, one finished pull per line.

Line 1 is a header naming the format (`"schema": "pulltrace-jsonl"`, its version, the
trace schema version of the sessions); every further line is one session exactly as in
the trace JSON's `sessions` array (documented in jsonl-v1.schema.json beside the trace
schema). A session is appended and flushed when its pull closes, so the file is
readable while the capture runs and survives a crash up to the last closed pull.
The reader is total: any line it cannot use is a UserError naming that line.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pulltrace.errors import UserError
from pulltrace.model import SCHEMA_NAME, SCHEMA_VERSION, Exchange, Session, Trace, TraceFormatError

JSONL_SCHEMA = "pulltrace-jsonl"
JSONL_VERSION = 1


class JsonlWriter:
    """Appends finished sessions to one file, each line whole and flushed before the next."""

    def __init__(self, path: str | os.PathLike[str], *, source: str, tool_version: str,
                 started_at: float) -> None:
        self.path = Path(path)
        self.header = {"schema": JSONL_SCHEMA, "version": JSONL_VERSION, "trace_version": SCHEMA_VERSION,
                       "source": source, "tool_version": tool_version, "started_at": round(started_at, 3)}
        self._out: IO[str] | None = None
        self.sessions = 0

    def _open(self) -> IO[str]:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A new capture starts a new file, as the trace JSON beside it is rewritten too.
            self._out = self.path.open("w", encoding="utf-8")
            self._line(self.header)
        return self._out

    def _line(self, data: dict[str, Any]) -> None:
        assert self._out is not None
        # One write per line, then flush: a reader (or a crash) never sees half a session.
        self._out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._out.flush()

    def write(self, session: Session) -> None:
        self._open()
        assert self._out is not None
        self._out.write(session_line(session) + "\n")
        self._out.flush()
        self.sessions += 1

    def start(self) -> None:
        """Create the file with its header now, before any pull closed."""
        self._open()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def _fields(obj: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return vars(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def session_line(session: Session) -> str:
    """One session as one JSON line, exactly as `dataclasses.asdict` would give it.

    json's encoder walks the dataclasses' own attribute dicts (no deep copy first): the
    recorder writes every finished pull, and asdict's copy was a fifth of its time.
    """
    return json.dumps(session, default=_fields, ensure_ascii=False, separators=(",", ":"))


def is_jsonl(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts with a pulltrace-jsonl header (for a loader choosing a reader)."""
    try:
        with Path(path).open("rb") as f:
            first = f.readline(4096)
    except OSError:
        return False
    return b'"schema":"pulltrace-jsonl"' in first.replace(b" ", b"")


def _header(path: Path, line: bytes) -> dict[str, Any]:
    where = f"{path}:1"
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise UserError(f"{where}: not a pulltrace JSONL header ({e}); is this a pulltrace.jsonl file?") from e
    if not isinstance(data, dict) or data.get("schema") != JSONL_SCHEMA:
        raise UserError(f"{where}: not a pulltrace JSONL header (no \"schema\": \"{JSONL_SCHEMA}\"); "
                        "is this a pulltrace.jsonl file?")
    if data.get("version") != JSONL_VERSION or data.get("trace_version") != SCHEMA_VERSION:
        raise UserError(f"{where}: pulltrace JSONL version {data.get('version')!r} with trace version "
                        f"{data.get('trace_version')!r} is not supported (this pulltrace reads {JSONL_VERSION} "
                        f"with trace version {SCHEMA_VERSION}); use the pulltrace that wrote it, or upgrade")
    return data


def _session(path: Path, number: int, line: bytes) -> Session:
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise TraceFormatError("a session must be a JSON object")
        (session,) = Trace.from_dict({"schema": SCHEMA_NAME, "version": SCHEMA_VERSION, "sessions": [data]}).sessions
    except (TraceFormatError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise UserError(f"{where}: not a pulltrace session ({e}); the file is damaged from this line on") from e
    if not isinstance(session.id, str) or not isinstance(session.steps, list):
        raise UserError(f"{where}: not a pulltrace session (id or steps of the wrong type)")
    return session


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as f:
            yield from enumerate(f, start=1)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from e


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header line of a pulltrace.jsonl file."""
    p = Path(path)
    for _, line in _lines(p):
        return _header(p, line)
    raise UserError(f"{p} is empty: not a pulltrace.jsonl file (it starts with a header line)")


def read_sessions(path: str | os.PathLike[str]) -> Iterator[Session]:
    """Each session of a pulltrace.jsonl file in the order the pulls closed, one at a time."""
    p = Path(path)
    seen_header = False
    for number, line in _lines(p):
        if not seen_header:
            _header(p, line)
            seen_header = True
            continue
        if not line.strip():
            continue  # a blank line (an editor's trailing newline) carries nothing
        yield _session(p, number, line)
    if not seen_header:
        raise UserError(f"{p} is empty: not a pulltrace.jsonl file (it starts with a header line)")


def _end(ex: Exchange) -> float | None:
    try:
        return float(ex.started_at) + float(ex.duration_ms or 0.0) / 1000.0
    except (TypeError, ValueError):
        return None


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """A whole Trace from a pulltrace.jsonl file, as the reports at the end of a capture see it."""
    header = read_header(path)
    sessions = list(read_sessions(path))
    ends = [e for e in (_end(st.exchange) for s in sessions for st in s.steps) if e is not None]
    return Trace(
        sessions=sessions,
        source=str(header.get("source", "")),
        created_at=round(max(ends), 3) if ends else 0.0,
        tool_version=str(header.get("tool_version", "")),
    )
