"""`crane -v` / `gcrane -v`: go-containerregistry's HTTP dump, read from its documented format.

crane is not installable on this machine, so this reader follows the format as
go-containerregistry writes it (pkg/v1/remote/transport/logger.go, logs.Debug with Go's
log.LstdFlags prefix `2006/01/02 15:04:05 `), not recorded output:

    2024/05/01 12:00:00 --> GET https://index.docker.io/v2/ [body redacted: …]
    2024/05/01 12:00:00 GET /v2/ HTTP/1.1          <- httputil.DumpRequestOut, first line prefixed
    Host: index.docker.io
    User-Agent: crane/v0.19.0 go-containerregistry/v0.19.0
    Authorization: <redacted>
    <blank line, then the request body unless redacted>
    2024/05/01 12:00:00 <-- 401 https://index.docker.io/v2/ (123.456ms)
    2024/05/01 12:00:00 HTTP/1.1 401 Unauthorized  <- httputil.DumpResponse
    Www-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io"
    <blank line, then the response body unless redacted (tokens, blobs)>

A failed round trip logs `<-- <error> GET <url> (<duration>)`. The transport logs every hop,
so a redirect and the download it leads to are two exchanges. It sets `Authorization:
<redacted>` on every dump, so whether a credential was sent is not known from the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pulltrace.capture.logs.base import go_duration_ms
from pulltrace.model import Exchange

_TS = r"(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)?) "
_SEND_RE = re.compile(_TS + r"--> (?P<method>[A-Z]+) (?P<url>https?://\S+)(?: \[body redacted: [^\]]*\])?$")
_GOT_RE = re.compile(_TS + r"<-- (?P<status>\d{3}) (?P<url>https?://\S+) \((?P<took>[^)]+)\)(?: \[body redacted.*)?$")
_FAILED_RE = re.compile(_TS + r"<-- (?P<error>.+) (?P<method>[A-Z]+) (?P<url>https?://\S+) \((?P<took>[^)]+)\)$")
_PREFIXED_RE = re.compile(_TS + r"(?P<rest>.*)$")
_STATUS_LINE_RE = re.compile(r"^HTTP/\d(?:\.\d)? (\d{3})(?: (.*))?$")
_HEADER_RE = re.compile(r"^([A-Za-z0-9-]+): ?(.*)$")
_MAX_BODY = 64 * 1024


def sniff(line: str) -> bool:
    return bool(_SEND_RE.match(line) or _GOT_RE.match(line))


def _time(ts: str) -> float:
    return datetime.strptime(ts.split(".")[0], "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


@dataclass
class _Open:
    lineno: int
    started: float
    method: str
    url: str
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: list[str] = field(default_factory=list)
    status: int | None = None
    reason: str = ""
    final_url: str = ""
    duration: float | None = None
    error: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: list[str] = field(default_factory=list)
    body_size: int = 0


class CraneParser:
    """A small state machine over the dump: request line, request dump, response line, response dump."""

    def __init__(self, path: Path) -> None:
        self.file = path.name
        self.open: _Open | None = None
        self.part = ""  # "request-headers" | "request-body" | "response-headers" | "response-body"
        self.second = -1.0
        self.in_second = 0

    def feed(self, line: str, lineno: int) -> list[Exchange] | None:
        if m := _SEND_RE.match(line):
            done = self._close()
            when = _time(m.group("ts"))
            self.in_second = self.in_second + 1 if when == self.second else 0
            self.second = when
            self.open = _Open(lineno, when + self.in_second * 1e-6, m.group("method"), m.group("url"))
            self.part = "request-dump"
            return done
        current = self.open
        if current is None:
            return None
        if m := _GOT_RE.match(line):
            current.status = int(m.group("status"))
            current.final_url = m.group("url")
            current.duration = go_duration_ms(m.group("took"))
            self.part = "response-dump"
            return []
        if m := _FAILED_RE.match(line):
            current.error = m.group("error")
            current.duration = go_duration_ms(m.group("took"))
            self.part = ""
            return self._close()
        if m := _PREFIXED_RE.match(line):
            rest = m.group("rest")
            if self.part == "request-dump" and rest.startswith(f"{current.method} "):
                self.part = "request-headers"
                return []
            if self.part == "response-dump" and (status := _STATUS_LINE_RE.match(rest)):
                current.reason = status.group(2) or ""
                self.part = "response-headers"
                return []
            return None  # another logs.Debug line ("Failed to dump …")
        return self._continuation(current, line)

    def _continuation(self, current: _Open, line: str) -> list[Exchange] | None:
        if self.part in ("request-headers", "response-headers"):
            if not line.strip():
                self.part = "request-body" if self.part == "request-headers" else "response-body"
                return []
            header = _HEADER_RE.match(line)
            if header is None:
                # The blank line ending the headers is not handed to readers: this is the body.
                self.part = "request-body" if self.part == "request-headers" else "response-body"
                return self._continuation(current, line)
            name, value = header.group(1), header.group(2)
            if self.part == "request-headers":
                if name.lower() != "authorization":  # always "<redacted>", sent or not
                    current.request_headers.append((name, value))
            else:
                current.response_headers.append((name, value))
            return []
        if self.part in ("request-body", "response-body"):
            body = current.request_body if self.part == "request-body" else current.response_body
            if current.body_size < _MAX_BODY:
                body.append(line)
                current.body_size += len(line) + 1
            return []
        return None

    def finish(self) -> list[Exchange]:
        return self._close()

    def _close(self) -> list[Exchange]:
        current, self.open = self.open, None
        if current is None:
            return []
        response_body = "\n".join(current.response_body).strip() or None
        request_body = "\n".join(current.request_body).strip() or None
        size = next((v for k, v in current.response_headers if k.lower() == "content-length"), None)
        return [Exchange(
            id=f"{self.file}:{current.lineno}",
            method=current.method,
            url=current.url,
            started_at=current.started,
            request_headers=current.request_headers,
            status=current.status,
            reason=current.reason,
            response_headers=current.response_headers,
            request_body_preview=request_body,
            response_body_preview=response_body,
            response_bytes=int(size) if size and size.isdigit() and current.method != "HEAD" else None,
            duration_ms=current.duration,
            error=current.error,
        )]
