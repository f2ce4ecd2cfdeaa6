"""Recorded traffic -> Exchanges: mitmproxy flow files, HAR 1.2, pulltrace trace JSON.

Each format is recognised by its content, not its file name. Secrets are masked as
exchanges are read (unless the caller asks to show them), exactly as the live addon
masks them, so an imported trace and a captured one look the same.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pulltrace.errors import UserError
from pulltrace.model import Exchange, Timings, Trace, TraceFormatError, exchange_from_dict
from pulltrace.redact import mask_exchange, with_claims


class CaptureFormatError(UserError, ValueError):
    """A file that is not a flow file, HAR or trace JSON pulltrace can read; says which."""


@dataclass
class Capture:
    """What a file recorded: its exchanges, and what a pulltrace trace JSON said beside them."""

    exchanges: list[Exchange]
    source: str | None = None  # the source a trace JSON names ("client", "mitmproxy")
    notes: list[str] = field(default_factory=list)


def load_exchanges(path: str | os.PathLike[str], *, show_secrets: bool = False,
                   preview_limit: int | None = None) -> list[Exchange]:
    """Every exchange recorded in `path`, secrets masked unless `show_secrets`."""
    return read_capture(path, show_secrets=show_secrets, preview_limit=preview_limit).exchanges


def read_capture(path: str | os.PathLike[str], *, show_secrets: bool = False,
                 preview_limit: int | None = None) -> Capture:
    """Every exchange recorded in `path` (secrets masked unless `show_secrets`), with a
    trace JSON's source and notes, so a re-read trace keeps what its writer said."""
    from pulltrace.capture.flows import DEFAULT_PREVIEW_LIMIT

    limit = DEFAULT_PREVIEW_LIMIT if preview_limit is None else preview_limit
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except FileNotFoundError:
        raise CaptureFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptureFormatError(f"{path}: is a directory, not a capture file") from None
    if not head:
        raise CaptureFormatError(f"{path}: empty file")
    if head[:1] in (b"{", b"["):
        capture = _load_json(p, limit)
        capture.exchanges = [_finish(ex, show_secrets) for ex in capture.exchanges]
        return capture
    return Capture(_load_flows(p, limit, show_secrets))


def _finish(ex: Exchange, show_secrets: bool) -> Exchange:
    if show_secrets:
        return with_claims(ex)
    return mask_exchange(ex)


def _load_json(p: Path, limit: int) -> Capture:
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CaptureFormatError(f"{p}: not valid JSON ({e})") from None
    if isinstance(data, dict) and "log" in data:
        return Capture(har_to_exchanges(data, limit, source=str(p)))
    if isinstance(data, dict) and "schema" in data:
        try:
            trace = Trace.from_dict(data)
        except TraceFormatError as e:
            raise CaptureFormatError(f"{p}: {e}") from None
        return Capture([step.exchange for step in trace.all_steps()], trace.source or None, list(trace.notes))
    if isinstance(data, list):
        # A bare list of exchanges (pulltrace's recorded fixtures use this form).
        try:
            return Capture([exchange_from_dict(d) for d in data])
        except (KeyError, TypeError, ValueError) as e:
            raise CaptureFormatError(f"{p}: not a list of pulltrace exchanges ({e})") from None
    raise CaptureFormatError(
        f"{p}: JSON that is neither a HAR file (no \"log\") nor a pulltrace trace (no \"schema\")"
    )


def _load_flows(p: Path, limit: int, show_secrets: bool) -> list[Exchange]:
    from mitmproxy import exceptions, http
    from mitmproxy.io import FlowReader

    from pulltrace.capture.flows import flow_to_exchange

    out: list[Exchange] = []
    seen: set[str] = set()
    try:
        with p.open("rb") as f:
            for flow in FlowReader(f).stream():
                if not isinstance(flow, http.HTTPFlow):
                    continue
                first = flow.server_conn.id not in seen
                seen.add(flow.server_conn.id)
                out.append(flow_to_exchange(flow, show_secrets=show_secrets, preview_limit=limit,
                                            first_on_connection=first))
    except exceptions.FlowReadException as e:
        raise CaptureFormatError(
            f"{p}: not a mitmproxy flow file, HAR or trace JSON ({e}); record with `mitmdump -w FILE`"
        ) from None
    return out


# -- HAR 1.2 -------------------------------------------------------------------------------


def _epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as e:
        raise CaptureFormatError(f"HAR entry has a bad startedDateTime {text!r}") from e


def _ms_or_none(value: Any) -> float | None:
    if isinstance(value, (int, float)) and value >= 0:
        return float(value)
    return None


def har_to_exchanges(data: dict[str, Any], preview_limit: int, source: str = "HAR") -> list[Exchange]:
    """Exchanges from a HAR 1.2 log (from a browser, mitmproxy's savehar or pulltrace)."""
    from pulltrace.capture.flows import keeps_preview

    try:
        entries = data["log"]["entries"]
    except (KeyError, TypeError):
        raise CaptureFormatError(f"{source}: HAR without log.entries") from None
    out = []
    for n, entry in enumerate(entries, start=1):
        try:
            req, resp = entry["request"], entry.get("response") or {}
            extra = entry.get("_pulltrace") or {}
            status = resp.get("status")
            content = resp.get("content") or {}
            mime = content.get("mimeType") or ""
            text = content.get("text")
            if text is not None and content.get("encoding") == "base64":
                try:
                    text = base64.b64decode(text).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    text = None
            size = content.get("size")
            size = size if isinstance(size, int) and size >= 0 else None
            preview = text if text is not None and keeps_preview(
                req["url"], status, mime, size if size is not None else len(text.encode()), preview_limit
            ) else None
            timings = entry.get("timings") or {}
            t = Timings(
                connect_ms=_ms_or_none(timings.get("connect")),
                tls_ms=_ms_or_none(timings.get("ssl")),
                send_ms=_ms_or_none(timings.get("send")),
                wait_ms=_ms_or_none(timings.get("wait")),
                receive_ms=_ms_or_none(timings.get("receive")),
            )
            post = req.get("postData") or {}
            request_headers = [(h["name"], h["value"]) for h in req.get("headers", [])]
            scheme = extra.get("auth_scheme")
            if scheme and not any(k.lower() == "authorization" for k, _ in request_headers):
                # pulltrace's own HAR drops Authorization but records its scheme.
                request_headers.append(("Authorization", f"{scheme} …"))
            ex = Exchange(
                id=str(extra.get("id") or entry.get("_id") or f"har-{n}"),
                method=req["method"],
                url=req["url"],
                started_at=_epoch(entry["startedDateTime"]),
                request_headers=request_headers,
                status=status if isinstance(status, int) and status > 0 else None,
                reason=resp.get("statusText", ""),
                response_headers=[(h["name"], h["value"]) for h in resp.get("headers", [])],
                http_version=resp.get("httpVersion") or req.get("httpVersion") or "HTTP/1.1",
                client=str(extra.get("client", "")),
                server=str(entry.get("serverIPAddress", "")),
                request_body_preview=post.get("text") if post.get("text") and len(post["text"]) <= preview_limit else None,
                response_body_preview=preview,
                request_bytes=req.get("bodySize") if isinstance(req.get("bodySize"), int) and req["bodySize"] >= 0 else None,
                response_bytes=size,
                body_sha256=extra.get("body_sha256"),
                duration_ms=_ms_or_none(entry.get("time")),
                timings=t,
                error=extra.get("error") or entry.get("_error"),
                token_claims=extra.get("token_claims"),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise CaptureFormatError(f"{source}: HAR entry {n} is malformed (missing {e})") from None
        out.append(ex)
    return out
