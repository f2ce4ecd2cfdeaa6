"""pulltrace.jsonl: the stream a long-running capture writes, one finished pull per line.

Line 1 is a header naming the format (`"schema": "pulltrace-jsonl"`, its version, the
trace schema version of the sessions); every further line is one session exactly as in
the trace JSON's `sessions` array (documented in jsonl-v1.schema.json beside the trace
schema). A session is appended and flushed when its pull closes, so the file is
readable while the capture runs and survives a crash up to the last closed pull.
The header and every session name the node that captured them, so files from many
machines merge into one fleet report. With `max_bytes` the file rotates by size
(pulltrace.jsonl -> .1 -> .2 ...), each part a whole file with its own header.
The reader is total: any line it cannot use is a UserError naming that line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pulltrace.errors import UserError
from pulltrace.model import (
    SCHEMA_NAME,
    SCHEMA_VERSION,
    Exchange,
    Session,
    Trace,
    TraceFormatError,
    json_fields,
)

JSONL_SCHEMA = "pulltrace-jsonl"
JSONL_VERSION = 1


class JsonlWriter:
    """Appends finished sessions to one file, each line whole and flushed before the next."""

    def __init__(self, path: str | os.PathLike[str], *, source: str, tool_version: str,
                 started_at: float, node: str = "", max_bytes: int | None = None, resume: bool = False) -> None:
        self.path = Path(path)
        self.node = node
        self.header = {"schema": JSONL_SCHEMA, "version": JSONL_VERSION, "trace_version": SCHEMA_VERSION,
                       "source": source, "tool_version": tool_version, "started_at": round(started_at, 3),
                       "node": node}
        self.max_bytes = max_bytes
        self._out: IO[str] | None = None
        self._size = self._part_sessions = 0
        self._parts = 0  # rotated parts written by this capture: path.1 .. path.<parts>
        self.sessions = 0
        # Go on with the file this capture began in another process (see PullOutputs).
        self.resume = resume and self.path.exists() and self.path.stat().st_size > 0
        if self.resume:
            self._parts = len(rotated_parts(self.path))

    def _open(self) -> IO[str]:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.resume:
                self.resume = False
                self._out = self.path.open("a", encoding="utf-8")
                self._size = self.path.stat().st_size
                self._part_sessions = 1  # the header, and maybe pulls: the next one may rotate
                return self._out
            if self._parts == 0 and self.sessions == 0:
                # A new capture starts a new file, as the trace JSON beside it is rewritten
                # too; the parts an earlier capture rotated out are not this capture's.
                for old in rotated_parts(self.path):
                    old.unlink(missing_ok=True)
            self._out = self.path.open("w", encoding="utf-8")
            self._size = self._part_sessions = 0
            self._line(self.header)
        return self._out

    def files(self) -> list[Path]:
        """Every part this capture wrote, oldest first (what the exit reports read)."""
        parts = [self.path.with_name(f"{self.path.name}.{n}") for n in range(self._parts, 0, -1)]
        return [p for p in [*parts, self.path] if p.exists()]

    def _rotate(self) -> None:
        """pulltrace.jsonl -> .1, .1 -> .2, ...: the newest part keeps the name a reader tails."""
        if self._out is not None:
            self._out.close()
            self._out = None
        for n in range(self._parts, 0, -1):
            part = self.path.with_name(f"{self.path.name}.{n}")
            if part.exists():
                part.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._parts += 1

    def _line(self, data: dict[str, Any]) -> None:
        self._write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")

    def _write_text(self, text: str) -> None:
        assert self._out is not None
        # One write per line, then flush: a reader (or a crash) never sees half a session.
        self._out.write(text)
        self._out.flush()
        self._size += len(text.encode("utf-8"))

    def write(self, session: Session) -> None:
        self._open()
        # A part that already holds a session and has reached the size is rotated first:
        # a pull is never split, and a pull larger than the limit still gets its part.
        if self.max_bytes is not None and self._part_sessions > 0 and self._size >= self.max_bytes:
            self._rotate()
            self._open()
        self._write_text(session_line(session) + "\n")
        self.sessions += 1
        self._part_sessions += 1

    def start(self) -> None:
        """Create the file with its header now, before any pull closed."""
        self._open()

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def session_line(session: Session) -> str:
    """One session as one JSON line, exactly as in a trace's `sessions` (`Trace.to_json`).

    json's encoder walks the dataclasses' own attribute dicts (no deep copy first): the
    recorder writes every finished pull, and asdict's copy was a fifth of its time.
    """
    return json.dumps(session, default=json_fields, ensure_ascii=False, separators=(",", ":"))


def rotated_parts(path: str | os.PathLike[str]) -> list[Path]:
    """The parts rotated out of `path` (path.1, path.2, ... as long as they exist), oldest first."""
    base = Path(path)
    found = []
    n = 1
    while (part := base.with_name(f"{base.name}.{n}")).exists():
        found.append(part)
        n += 1
    return found[::-1]


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
    node = ""
    for number, line in _lines(p):
        if not seen_header:
            node = str(_header(p, line).get("node") or "")
            seen_header = True
            continue
        if not line.strip():
            continue  # a blank line (an editor's trailing newline) carries nothing
        session = _session(p, number, line)
        session.node = session.node or node
        yield session
    if not seen_header:
        raise UserError(f"{p} is empty: not a pulltrace.jsonl file (it starts with a header line)")


def node_of(path: str | os.PathLike[str]) -> str:
    """The node a pulltrace.jsonl file's header names ("" for an older file that names none)."""
    return str(read_header(path).get("node") or "")


def read_exchanges(path: str | os.PathLike[str]) -> list[Exchange]:
    """Every exchange of the file's sessions, for a loader that classifies them anew."""
    return [step.exchange for session in read_sessions(path) for step in session.steps]


def _end(ex: Exchange) -> float | None:
    try:
        return float(ex.started_at) + float(ex.duration_ms or 0.0) / 1000.0
    except (TypeError, ValueError):
        return None


def load_trace(path: str | os.PathLike[str], *more: str | os.PathLike[str]) -> Trace:
    """A whole Trace from pulltrace.jsonl files (the parts of one capture, oldest first), as the
    reports at the end of a capture see it."""
    paths = [path, *more]
    header = read_header(path)
    sessions = [s for p in paths for s in read_sessions(p)]
    ends = [e for e in (_end(st.exchange) for s in sessions for st in s.steps) if e is not None]
    return Trace(
        sessions=sessions,
        source=str(header.get("source", "")),
        created_at=round(max(ends), 3) if ends else 0.0,
        tool_version=str(header.get("tool_version", "")),
    )
