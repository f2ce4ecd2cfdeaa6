"""Trace -> HAR 1.2, for tools that read HAR (browsers' devtools, HAR viewers).

Unlike mitmproxy's own HAR export, pulltrace's never keeps Authorization headers or
cookies and always masks signed URL queries and token bodies, whatever the trace
holds: a HAR is the file people attach to bug reports. What pulltrace knows beyond
HAR (kind, role, links, session) rides along in each entry's `_pulltrace` object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pulltrace import __version__
from pulltrace.model import Step, Trace
from pulltrace.redact import mask_headers, mask_text, mask_url

_DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _headers(headers: list[tuple[str, str]]) -> list[dict[str, str]]:
    kept = [(k, v) for k, v in headers if k.lower() not in _DROPPED_HEADERS]
    return [{"name": k, "value": v} for k, v in mask_headers(kept)]


def _ms(value: float | None) -> float:
    return round(value, 3) if value is not None else -1


def _entry(step: Step, session_id: str) -> dict[str, Any]:
    ex = step.exchange
    url = mask_url(ex.url)
    t = ex.timings
    location = ex.response_header("location")
    content: dict[str, Any] = {"size": ex.response_bytes if ex.response_bytes is not None else -1,
                               "mimeType": ex.response_header("content-type") or ""}
    if ex.response_body_preview is not None:
        content["text"] = mask_text(ex.response_body_preview)
    request: dict[str, Any] = {
        "method": ex.method,
        "url": url,
        "httpVersion": ex.http_version,
        "cookies": [],
        "headers": _headers(ex.request_headers),
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": ex.request_bytes if ex.request_bytes is not None else -1,
    }
    if ex.request_body_preview:
        request["postData"] = {"mimeType": ex.request_header("content-type") or "",
                               "text": mask_text(ex.request_body_preview)}
    entry: dict[str, Any] = {
        "pageref": session_id,
        "startedDateTime": _iso(ex.started_at),
        "time": _ms(ex.duration_ms) if ex.duration_ms is not None else 0,
        "request": request,
        "response": {
            "status": ex.status or 0,
            "statusText": ex.reason,
            "httpVersion": ex.http_version,
            "cookies": [],
            "headers": _headers(ex.response_headers),
            "content": content,
            "redirectURL": mask_url(location) if location else "",
            "headersSize": -1,
            "bodySize": ex.response_bytes if ex.response_bytes is not None else -1,
        },
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": -1,
            # HAR 1.2: `connect` includes the `ssl` time (the model keeps the two apart).
            "connect": _ms(t.connect_ms + (t.tls_ms or 0.0) if t.connect_ms is not None else None),
            "ssl": _ms(t.tls_ms),
            "send": _ms(t.send_ms) if t.send_ms is not None else 0,
            "wait": _ms(t.wait_ms) if t.wait_ms is not None else 0,
            "receive": _ms(t.receive_ms) if t.receive_ms is not None else 0,
        },
        "_pulltrace": {
            "id": ex.id,
            "session": session_id,
            "kind": str(step.kind),
            "role": step.role,
            "links": [{"rel": link.rel, "target": link.target, "note": link.note} for link in step.links],
            "client": ex.client,
            # The Authorization header is dropped, but which scheme was sent is a protocol
            # fact the classifier needs (a retry with a token, a Basic login).
            "auth_scheme": (ex.request_header("authorization") or "").split(" ", 1)[0] or None,
            "body_sha256": ex.body_sha256,
            "token_claims": ex.token_claims,
        },
    }
    if ex.server:
        entry["serverIPAddress"] = ex.server.rsplit(":", 1)[0].strip("[]")
    if ex.error:
        entry["_pulltrace"]["error"] = mask_text(ex.error)
    return entry


def to_har(trace: Trace) -> dict[str, Any]:
    """A HAR 1.2 document of every step, one page per session, secrets always masked."""
    pages: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for session in trace.sessions:
        if not session.steps:
            continue
        pages.append({
            "startedDateTime": _iso(min(s.exchange.started_at for s in session.steps)),
            "id": session.id,
            "title": session.summary.image or f"{session.action} {session.summary.registry}".strip(),
            "pageTimings": {"onContentLoad": -1, "onLoad": session.summary.duration_ms or -1},
        })
        entries.extend(_entry(step, session.id) for step in session.steps)
    entries.sort(key=lambda e: e["startedDateTime"])
    return {"log": {"version": "1.2", "creator": {"name": "pulltrace", "version": __version__},
                    "pages": pages, "entries": entries}}
