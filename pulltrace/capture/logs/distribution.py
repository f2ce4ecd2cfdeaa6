"""CNCF distribution's own log (`docker-registry`, `registry:2`): logrus text or JSON.

The registry writes two lines per request (registry/handlers/app.go, registry.go):

- its app line, `msg="response completed"` (or `"response completed with error"`, once per
  error) with `http.request.{method,uri,host,useragent,referer,remoteaddr,id}` and
  `http.response.{status,written,contenttype,duration}`, at the end of the request;
- gorilla's combined access line on stdout right after it (unless `log.accesslog.disabled`):
  `127.0.0.1 - - [01/Dec/2026:20:09:24 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "docker/…"`.

A request refused by the access controller writes no "response completed" line: only
`level=warning msg="error authorizing context: <why>"` with the request fields, then the
combined line with the 401. So app lines are the exchanges, the combined line that repeats
one is dropped, a warning is joined with the combined line that gives its status, and a
combined line nothing else describes (app logging above info) stands alone.

The registry never logs its response headers beyond Content-Type (no challenge, no
Location of a blob redirect, no digest) nor any body; the `why` of an auth failure says
whether a credential was sent: a token (`insufficient scope`, `invalid token`), a password
(`authentication failure`) or none (`authorization token required`, `invalid
authorization credential`).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from pulltrace.capture.logs import logrus
from pulltrace.capture.logs.access import AccessLogParser
from pulltrace.capture.logs.base import go_duration_ms, host_placeholder
from pulltrace.model import Exchange

# Requests whose combined line has not arrived yet; the registry writes it right after the
# app line, so a small window is plenty even under parallel pulls.
_WINDOW = 4096

# `error authorizing context: <err>` -> the Authorization the request carried. The token
# controller (registry/auth/token) says "authorization token required" when none came and
# "insufficient scope" / "invalid token" / "token expired" about one that did; htpasswd says
# "invalid authorization credential" for none and "authentication failure" for a bad one.
_SENT_TOKEN = ("insufficient scope", "invalid token", "token expired", "token not yet valid", "invalid signature",
               "malformed token", "token issuer", "token intended for another audience", "unable to")
_SENT_PASSWORD = ("authentication failure",)


def sniff_text(line: str) -> bool:
    entry = logrus.parse_text(line) if logrus.is_text(line) else None
    return bool(entry and ("http.request.uri" in entry.fields or entry.fields.get("instance.id")
                           or entry.msg in ("redis not configured", "response completed")))


def sniff_json(line: str) -> bool:
    entry = logrus.parse_json(line) if line.startswith("{") else None
    return bool(entry and ("http.request.uri" in entry.fields or "instance.id" in entry.fields))


class DistributionParser:
    """App lines, their combined duplicates and auth warnings -> one exchange per request."""

    def __init__(self, path: Path) -> None:
        self.file = path.name
        self.access = AccessLogParser(path, "combined")
        self.placeholder = host_placeholder(path)
        self.host = ""
        self.answered: OrderedDict[tuple[str, str, int], int] = OrderedDict()
        self.refused: OrderedDict[tuple[str, str], tuple[int, logrus.Entry]] = OrderedDict()
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.authorized: OrderedDict[str, None] = OrderedDict()
        self.scheme = ""

    def feed(self, line: str, lineno: int) -> list[Exchange] | None:
        if line.startswith(("time=", "{")):
            entry = logrus.parse_any(line)
            if entry is None:
                return None
            return self._app(entry, lineno)
        got = self.access.feed(line, lineno)
        if got is None:
            return None
        return self._combined(got[0], lineno)

    def notes(self) -> list[str]:
        if self.scheme == "Bearer":
            return [f"{self.file}: the registry refused requests without a token (a Bearer challenge) and let "
                    "the others in, so those carried a token; tokens are issued by a separate service, whose "
                    "requests this log cannot show."]
        if self.scheme == "Basic":
            return [f"{self.file}: the registry asks for a password (Basic); requests it let in carried one."]
        return []

    def finish(self) -> list[Exchange]:
        out = [self._refusal(lineno, entry, 401, None) for lineno, entry in self.refused.values()]
        self.refused.clear()
        return out

    # -- app lines ------------------------------------------------------------------------
    def _app(self, entry: logrus.Entry, lineno: int) -> list[Exchange]:
        f = entry.fields
        if f.get("http.request.host"):
            self.host = f["http.request.host"]
        if "http.request.method" not in f or "http.request.uri" not in f:
            return []  # start-up, storage and health lines: understood, not requests
        key = (f["http.request.method"], f["http.request.uri"])
        if entry.msg == "authorized request":
            # Logged only when an access controller let the request in: it carried a credential.
            if f.get("http.request.id"):
                self.authorized[f["http.request.id"]] = None
                if len(self.authorized) > _WINDOW:
                    self.authorized.popitem(last=False)
            return []
        if entry.msg.startswith("error authorizing context"):
            self._learn_scheme(entry.msg)
            self.refused[key] = (lineno, entry)
            if len(self.refused) > _WINDOW:
                old_line, old = self.refused.popitem(last=False)[1]
                return [self._refusal(old_line, old, 401, None)]
            return []
        if not entry.msg.startswith("response completed") or "http.response.status" not in f:
            return []  # "authorized request" (its start), handler chatter
        request_id = f.get("http.request.id", "")
        if request_id:
            if request_id in self.ids:
                return []  # one "response completed with error" line per error of one request
            self.ids[request_id] = None
            if len(self.ids) > _WINDOW:
                self.ids.popitem(last=False)
        try:
            status = int(f["http.response.status"])
        except ValueError:
            return []
        written = f.get("http.response.written", "")
        duration = go_duration_ms(f.get("http.response.duration", ""))
        headers = self._request_headers(f)
        if self.authorized.pop(request_id, 0) is None or f.get("auth.user.name"):
            headers.append(("Authorization", f"{self.scheme} …" if self.scheme else "…"))
        response_headers = []
        if f.get("http.response.contenttype"):
            response_headers.append(("Content-Type", f["http.response.contenttype"]))
        ex = Exchange(
            id=f"{self.file}:{lineno}",
            method=key[0],
            url=self._url(f, key[1]),
            started_at=entry.time - (duration or 0.0) / 1000.0,
            request_headers=headers,
            status=status,
            response_headers=response_headers,
            client=f.get("http.request.remoteaddr", ""),
            response_bytes=int(written) if written.isdigit() else None,
            duration_ms=duration,
        )
        answered = (key[0], key[1], status)
        self.answered[answered] = self.answered.get(answered, 0) + 1
        if len(self.answered) > _WINDOW:
            self.answered.popitem(last=False)
        return [ex]

    def _learn_scheme(self, msg: str) -> None:
        """One registry has one access controller: its refusals name the credential it takes."""
        why = msg.partition(":")[2].strip().lower()
        if why.startswith("basic authentication challenge") or why.endswith(_SENT_PASSWORD):
            self.scheme = "Basic"
        elif why.startswith(("authorization token required", *_SENT_TOKEN)):
            self.scheme = "Bearer"

    def _refusal(self, lineno: int, entry: logrus.Entry, status: int, size: int | None) -> Exchange:
        f = entry.fields
        why = entry.msg.partition(":")[2].strip().lower()
        headers = self._request_headers(f)
        if any(why.startswith(w) for w in _SENT_TOKEN):
            headers.append(("Authorization", "Bearer …"))
        elif any(why.endswith(w) or why.startswith(w) for w in _SENT_PASSWORD):
            headers.append(("Authorization", "Basic …"))
        return Exchange(
            id=f"{self.file}:{lineno}",
            method=f["http.request.method"],
            url=self._url(f, f["http.request.uri"]),
            started_at=entry.time,
            request_headers=headers,
            status=status,
            client=f.get("http.request.remoteaddr", ""),
            response_bytes=size,
        )

    def _request_headers(self, f: dict[str, str]) -> list[tuple[str, str]]:
        headers = []
        for field, name in (("http.request.useragent", "User-Agent"), ("http.request.referer", "Referer"),
                            ("http.request.contenttype", "Content-Type")):
            if f.get(field):
                headers.append((name, f[field]))
        return headers

    def _url(self, f: dict[str, str], uri: str) -> str:
        if uri.startswith(("http://", "https://")):
            return uri
        host = f.get("http.request.host") or self.host or self.placeholder
        return f"https://{host}{uri if uri.startswith('/') else '/' + uri}"

    # -- combined lines -------------------------------------------------------------------
    def _combined(self, ex: Exchange, lineno: int) -> list[Exchange]:
        path = ex.url.partition("://")[2]
        uri = "/" + path.partition("/")[2]
        status = ex.status or 0
        answered = (ex.method, uri, status)
        count = self.answered.get(answered, 0)
        if count:
            if count == 1:
                del self.answered[answered]
            else:
                self.answered[answered] = count - 1
            return []
        refused = self.refused.pop((ex.method, uri), None)
        if refused is not None:
            return [self._refusal(refused[0], refused[1], status, ex.response_bytes)]
        if self.host:
            ex.url = f"https://{self.host}{uri}"
        return [ex]
