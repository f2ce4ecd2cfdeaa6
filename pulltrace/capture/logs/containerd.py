"""containerd's debug log (and dockerd's, for the containerd it embeds): logrus text or JSON.

With `--log-level debug` (or `ctr --debug`), containerd's resolver and fetcher
(remotes/docker/resolver.go) write, per HTTP request:

- `msg="do request"` with `url`, `request.method` and every request header as
  `request.header.<lower-case name>` (a repeated one as `….1`, `….2`), Authorization left
  out on purpose;
- `msg="fetch response received"` with the same `url`, `response.status` (`200 OK`) and
  every response header as `response.header.<name>`;

around them `msg="resolving"`, `msg="resolved"` (`desc.digest`) and `msg="fetch"`
(`digest`, `mediatype`, `size`), which are not requests. Go's HTTP client follows redirects
inside one `do request`: the response logged is the last hop's, under the first hop's URL,
so a blob redirect and its CDN download are one exchange here. Token requests go through
another client and are not logged (only `msg="token request failed"`). Bodies never are.

dockerd -D logs the steps of its own pulls (`Trying to pull …`, `pulling blob …`), not
HTTP requests; only lines of the containerd it runs reach the exchanges.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from pathlib import Path

from pulltrace.capture.logs import logrus
from pulltrace.model import Exchange

_WINDOW = 4096


def sniff_containerd(line: str) -> bool:
    entry = logrus.parse_any(line) if line.startswith(("time=", "{")) else None
    return bool(entry and (entry.msg in ("do request", "fetch response received", "resolving", "resolved", "fetch")
                           or "request.method" in entry.fields or entry.msg.startswith("starting containerd")))


def sniff_dockerd(line: str) -> bool:
    entry = logrus.parse_any(line) if line.startswith(("time=", "{")) else None
    return bool(entry and (entry.msg.startswith(("Calling ", "Trying to pull ", "Pulling ref from V2 registry",
                                                 "pulling blob ", "Docker daemon", "Starting up"))))


def _header_name(field: str, prefix: str) -> str | None:
    if not field.startswith(prefix):
        return None
    name = field[len(prefix):]
    head, dot, tail = name.rpartition(".")
    if dot and tail.isdigit():
        name = head  # `request.header.accept.1`: the header's second value
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _headers(fields: dict[str, str], prefix: str) -> list[tuple[str, str]]:
    out = []
    for field, value in fields.items():
        name = _header_name(field, prefix)
        if name:
            out.append((name, value))
    return out


class ContainerdParser:
    """Pairs each `do request` with the `fetch response received` for the same URL."""

    def __init__(self, path: Path) -> None:
        self.file = path.name
        self.waiting: OrderedDict[str, deque[tuple[int, logrus.Entry]]] = OrderedDict()
        self.count = 0
        self.second = -1.0
        self.in_second = 0

    def feed(self, line: str, lineno: int) -> list[Exchange] | None:
        entry = logrus.parse_any(line) if line.startswith(("time=", "{")) else None
        if entry is None:
            return None
        url = entry.fields.get("url", "")
        if not url.startswith(("http://", "https://")):
            url = ""
        if entry.msg == "do request" and url:
            if entry.time == int(entry.time):
                # ctr logs to the second (RFC 3339 without fraction): requests of one second
                # keep the log's order, 1 µs apart.
                self.in_second = self.in_second + 1 if entry.time == self.second else 0
                self.second = entry.time
                entry.time += self.in_second * 1e-6
            self.waiting.setdefault(url, deque()).append((lineno, entry))
            self.count += 1
            if self.count > _WINDOW:
                return [self._pop_oldest()]
            return []
        if entry.msg == "fetch response received" and url:
            queue = self.waiting.get(url)
            if not queue:
                return []  # its request was logged before the file starts
            lineno_req, request = queue.popleft()
            self.count -= 1
            if not queue:
                del self.waiting[url]
            return [self._exchange(lineno_req, request, entry)]
        return []

    def finish(self) -> list[Exchange]:
        out = []
        while self.count:
            out.append(self._pop_oldest())
        return out

    def _pop_oldest(self) -> Exchange:
        url, queue = next(iter(self.waiting.items()))
        lineno, entry = queue.popleft()
        self.count -= 1
        if not queue:
            del self.waiting[url]
        return self._exchange(lineno, entry, None)

    def _exchange(self, lineno: int, request: logrus.Entry, response: logrus.Entry | None) -> Exchange:
        f = request.fields
        status, reason, error = None, "", None
        response_headers: list[tuple[str, str]] = []
        duration = None
        if response is not None:
            code, _, reason = response.fields.get("response.status", "").partition(" ")
            status = int(code) if code.isdigit() else None
            response_headers = _headers(response.fields, "response.header.")
            duration = max(0.0, round((response.time - request.time) * 1000.0, 3))
        else:
            error = "no response logged (the request failed, or the log ends first)"
        size = next((v for k, v in response_headers if k.lower() == "content-length"), None)
        method = f.get("request.method", "GET")
        return Exchange(
            id=f"{self.file}:{lineno}",
            method=method,
            url=f["url"],
            started_at=request.time,
            request_headers=_headers(f, "request.header."),
            status=status,
            reason=reason,
            response_headers=response_headers,
            # Content-Length is what the server announced; a HEAD announces the GET's size.
            response_bytes=int(size) if size and size.isdigit() and method != "HEAD" else None,
            duration_ms=duration,
            error=error,
        )
