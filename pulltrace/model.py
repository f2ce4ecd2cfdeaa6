"""The one model every source fills and every view reads.

Exchange (wire facts) -> Step (what it means) -> Session (one pull) -> Finding
(a diagnosis), all held by a Trace that serialises to versioned JSON.

This module imports nothing of pulltrace's own: sources and views depend on it,
never the other way round.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterable

SCHEMA_NAME = "pulltrace-trace"
SCHEMA_VERSION = 1

Headers = list[tuple[str, str]]


class TraceFormatError(ValueError):
    """A trace file that is not pulltrace trace JSON of a version this code reads."""


class StepKind(StrEnum):
    """What an exchange means in the registry protocol."""

    PING = "ping"
    TOKEN = "token"
    LOGIN = "login"
    MANIFEST_INDEX = "manifest-index"
    MANIFEST = "manifest"
    MANIFEST_HEAD = "manifest-head"
    CONFIG_BLOB = "config-blob"
    LAYER_BLOB = "layer-blob"
    BLOB_REDIRECT = "blob-redirect"
    CDN_DOWNLOAD = "cdn-download"
    UPLOAD = "upload"
    CATALOG = "catalog"
    ERROR = "error"
    OTHER = "other"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass
class Timings:
    """Milliseconds per phase, HAR style; None where the source did not see it."""

    connect_ms: float | None = None
    tls_ms: float | None = None
    send_ms: float | None = None
    wait_ms: float | None = None
    receive_ms: float | None = None


@dataclass
class Exchange:
    """One HTTP request and its response as seen on the wire. Never a blob body."""

    id: str
    method: str
    url: str
    started_at: float
    request_headers: Headers = field(default_factory=list)
    status: int | None = None
    reason: str = ""
    response_headers: Headers = field(default_factory=list)
    http_version: str = "HTTP/1.1"
    client: str = ""
    server: str = ""
    request_body_preview: str | None = None
    response_body_preview: str | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    body_sha256: str | None = None
    duration_ms: float | None = None
    timings: Timings = field(default_factory=Timings)
    error: str | None = None
    secrets_masked: bool = True
    # Claims of a JWT this response issued, decoded (unverified) before the token was
    # masked, so scopes granted stay visible when the token itself is not.
    token_claims: dict[str, Any] | None = None

    def request_header(self, name: str) -> str | None:
        """First value of a request header, matched case-insensitively."""
        return _header(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        """First value of a response header, matched case-insensitively."""
        return _header(self.response_headers, name)

    def response_header_all(self, name: str) -> list[str]:
        """Every value of a response header (WWW-Authenticate may repeat)."""
        lname = name.lower()
        return [v for k, v in self.response_headers if k.lower() == lname]

    def response_json(self) -> dict[str, Any] | None:
        """The response preview as a JSON object (manifest, token, error), else None."""
        text = self.response_body_preview
        if not text or not text.lstrip().startswith("{"):
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def content_type(self) -> str | None:
        value = self.response_header("content-type")
        return value.split(";")[0].strip().lower() if value else None


def _header(headers: Headers, name: str) -> str | None:
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


@dataclass
class Link:
    """A relation from one step to another, by exchange id.

    rel is one of: "follows" (this CDN download follows that redirect),
    "redirects-to", "answers" (this token answered that challenge),
    "retried-by", "retries", "chosen-from" (this manifest was chosen from that
    index), "chooses", "blob-of" (this blob is named by that manifest).
    """

    rel: str
    target: str
    note: str = ""


@dataclass
class Step:
    """An exchange plus what it means: its kind, its links and its role."""

    exchange: Exchange
    kind: StepKind = StepKind.OTHER
    index: int = 0
    repository: str | None = None
    reference: str | None = None
    role: str | None = None
    links: list[Link] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.exchange.id

    def linked(self, rel: str) -> list[str]:
        return [link.target for link in self.links if link.rel == rel]


@dataclass
class Finding:
    """A diagnosis: what went wrong or is risky, on which steps, why, and the fix."""

    rule: str
    severity: Severity
    title: str
    cause: str
    fix: str
    steps: list[str] = field(default_factory=list)


@dataclass
class SessionSummary:
    image: str = ""
    registry: str = ""
    platform: str | None = None
    manifest_digest: str | None = None
    auth: str = "none"
    scopes_requested: list[str] = field(default_factory=list)
    scopes_granted: list[str] = field(default_factory=list)
    token_claims: dict[str, Any] = field(default_factory=dict)
    layers: int = 0
    layers_fetched: int = 0
    bytes: int = 0
    duration_ms: float = 0.0
    skipped_blobs: list[str] = field(default_factory=list)
    mirror: str | None = None
    fallback: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Session:
    """The steps of one pull (one image reference, one client)."""

    id: str
    action: str = "pull"
    client: str = ""
    steps: list[Step] = field(default_factory=list)
    summary: SessionSummary = field(default_factory=SessionSummary)
    findings: list[Finding] = field(default_factory=list)
    # The machine that saw the pull (the addon's pulltrace_node, else its hostname); a
    # fleet report groups by it. Empty when the source does not say.
    node: str = ""

    def step(self, exchange_id: str) -> Step | None:
        for step in self.steps:
            if step.id == exchange_id:
                return step
        return None


@dataclass
class Trace:
    """Sessions plus metadata; the unit every view renders."""

    sessions: list[Session] = field(default_factory=list)
    source: str = ""
    created_at: float = 0.0
    tool_version: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        return {"schema": SCHEMA_NAME, "version": SCHEMA_VERSION, **body}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> Trace:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
            raise TraceFormatError("not a pulltrace trace (no \"schema\": \"pulltrace-trace\")")
        version = data.get("version")
        if version != SCHEMA_VERSION:
            raise TraceFormatError(
                f"trace schema version {version!r} is not supported (this pulltrace reads "
                f"version {SCHEMA_VERSION}); upgrade pulltrace"
            )
        try:
            return Trace(
                sessions=[_session_from(s) for s in data.get("sessions", [])],
                source=data.get("source", ""),
                created_at=float(data.get("created_at", 0.0)),
                tool_version=data.get("tool_version", ""),
                notes=list(data.get("notes", [])),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise TraceFormatError(f"malformed trace: {e}") from e

    @classmethod
    def from_json(cls, text: str) -> Trace:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise TraceFormatError(f"not JSON: {e.msg} at line {e.lineno}") from e
        return cls.from_dict(data)

    def all_steps(self) -> Iterable[Step]:
        for session in self.sessions:
            yield from session.steps


def exchange_from_dict(d: dict[str, Any]) -> Exchange:
    """An Exchange from its JSON form (as in a trace's steps, or a list of recorded exchanges)."""
    return _exchange_from(d)


def _exchange_from(d: dict[str, Any]) -> Exchange:
    d = dict(d)
    d["request_headers"] = [(k, v) for k, v in d.get("request_headers", [])]
    d["response_headers"] = [(k, v) for k, v in d.get("response_headers", [])]
    d["timings"] = Timings(**d.get("timings", {}))
    return Exchange(**d)


def _step_from(d: dict[str, Any]) -> Step:
    d = dict(d)
    d["exchange"] = _exchange_from(d["exchange"])
    d["kind"] = StepKind(d.get("kind", "other"))
    d["links"] = [Link(**link) for link in d.get("links", [])]
    return Step(**d)


def _finding_from(d: dict[str, Any]) -> Finding:
    d = dict(d)
    d["severity"] = Severity(d["severity"])
    return Finding(**d)


def _session_from(d: dict[str, Any]) -> Session:
    return Session(
        id=d["id"],
        action=d.get("action", "pull"),
        client=d.get("client", ""),
        steps=[_step_from(s) for s in d.get("steps", [])],
        summary=SessionSummary(**d.get("summary", {})),
        findings=[_finding_from(f) for f in d.get("findings", [])],
        node=str(d.get("node", "")),
    )


def write_atomically(path: str | os.PathLike[str], data: bytes | str, mode: int | None = None) -> None:
    """Write a whole file or nothing: a temp file beside it, then os.replace.

    `mode` (e.g. 0o600 for a private key) is set before the file appears under its name.
    """
    target = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        if mode is None:
            # mkstemp makes 0600 files; a report is an ordinary file, so honour the umask.
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace JSON file; TraceFormatError says what is wrong with it."""
    return Trace.from_json(Path(path).read_text(encoding="utf-8"))
