"""Recorded traffic -> Exchanges: mitmproxy flow files, HAR 1.2, pulltrace trace JSON.

Each format is recognised by its content, not its file name. Secrets are masked as
exchanges are read (unless the caller asks to show them), exactly as the live addon
masks them, so an imported trace and a captured one look the same.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pulltrace import jsonbound
from pulltrace.errors import UserError
from pulltrace.model import Exchange, Timings, Trace, TraceFormatError, exchange_from_dict
from pulltrace.redact import mask_exchange, with_claims
from pulltrace.urls import InvalidURL, split_url

# A HAR or trace JSON is read whole; past this it is not a capture of pulls.
MAX_JSON_FILE = 512 * 1024 * 1024
# HAR 1.2 nests about 6 deep, a trace about 10 (token claims included).
MAX_JSON_DEPTH = 64
# What reading one flow may raise, from mitmproxy's tnetstring reader (ValueError,
# IndexError, UnicodeDecodeError), its state migration and from_state (KeyError,
# TypeError, AttributeError, and the `assert`s of Flow.from_state), a nesting too deep
# for its recursive parser, or a number too large to convert. Caught at this boundary
# and reported with the flow's number.
_FLOW_ERRORS = (ValueError, LookupError, TypeError, AttributeError, AssertionError, RecursionError, OverflowError)
# What model.py's readers raise on fields of the wrong type.
_MODEL_ERRORS = (TraceFormatError, LookupError, TypeError, ValueError, AttributeError)
_BODY_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


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
    """Every exchange recorded in `path`, secrets masked unless `show_secrets`, or
    CaptureFormatError (one line) for anything pulltrace cannot read."""
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
            head = f.read(64)
    except FileNotFoundError:
        raise CaptureFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptureFormatError(f"{path}: is a directory, not a capture file") from None
    except OSError as e:
        raise CaptureFormatError(f"{path}: cannot be read ({e.strerror or e})") from None
    head = head if head.startswith(_UTF16_32_BOMS) else head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise CaptureFormatError(f"{path}: empty file")
    if head.startswith(_UTF16_32_BOMS) or head[:1] in (b"{", b"["):
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
        if p.stat().st_size > MAX_JSON_FILE:
            raise CaptureFormatError(f"{p}: larger than {MAX_JSON_FILE // 2**20} MiB; not a capture pulltrace reads")
        raw = p.read_bytes()
    except OSError as e:
        raise CaptureFormatError(f"{p}: cannot be read ({e.strerror or e})") from None
    try:
        data = jsonbound.loads(raw, max_bytes=MAX_JSON_FILE, max_depth=MAX_JSON_DEPTH, what=str(p))
    except jsonbound.JSONBoundError as e:
        raise CaptureFormatError(str(e)) from None
    if isinstance(data, dict) and "log" in data:
        return Capture(har_to_exchanges(data, limit, source=str(p)))
    if isinstance(data, dict) and "schema" in data:
        try:
            trace = Trace.from_dict(data)
            steps = list(trace.all_steps())
        except _MODEL_ERRORS as e:
            raise CaptureFormatError(f"{p}: {_reason(e)}") from None
        exchanges = [check_exchange(step.exchange, f"{p}: step {n}") for n, step in enumerate(steps, start=1)]
        source = trace.source if isinstance(trace.source, str) and trace.source else None
        notes = [note for note in trace.notes if isinstance(note, str)]
        return Capture(exchanges, source, notes)
    if isinstance(data, list):
        # A bare list of exchanges (pulltrace's recorded fixtures use this form).
        out = []
        for n, d in enumerate(data, start=1):
            if not isinstance(d, dict):
                raise CaptureFormatError(f"{p}: exchange {n} is not a JSON object")
            try:
                ex = exchange_from_dict(d)
            except _MODEL_ERRORS as e:
                raise CaptureFormatError(
                    f"{p}: not a list of pulltrace exchanges (exchange {n}: {_reason(e)})"
                ) from None
            out.append(check_exchange(ex, f"{p}: exchange {n}"))
        return Capture(out)
    raise CaptureFormatError(
        f"{p}: JSON that is neither a HAR file (no \"log\") nor a pulltrace trace (no \"schema\")"
    )


def _reason(e: BaseException) -> str:
    """An exception as a bounded one-line reason; a KeyError says which field is missing."""
    text = f"missing {e}" if isinstance(e, KeyError) else str(e) or f"{type(e).__name__} in mitmproxy's reader"
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:160] + "…"


_OPTIONAL_TEXT = ("reason", "http_version", "client", "server", "request_body_preview",
                  "response_body_preview", "body_sha256", "error")


def check_exchange(ex: Exchange, where: str) -> Exchange:
    """`ex` if every field has the type the model promises (and its URL splits), else
    CaptureFormatError: a trace or list read from a file is as untrusted as the wire."""
    def bad(field: str, expected: str) -> CaptureFormatError:
        return CaptureFormatError(f"{where}: {field} is not {expected}")

    if not isinstance(ex.id, str) or not isinstance(ex.method, str) or not isinstance(ex.url, str):
        raise bad("id, method or url", "text")
    try:
        split_url(ex.url)
    except InvalidURL as e:
        raise CaptureFormatError(f"{where}: {e}") from None
    if not _number(ex.started_at):
        raise bad("started_at", "a finite number")
    for name in ("request_headers", "response_headers"):
        headers = getattr(ex, name)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers):
            raise bad(name, "a list of [name, value] text pairs")
    if ex.status is not None and (not isinstance(ex.status, int) or isinstance(ex.status, bool)):
        raise bad("status", "a number")
    for name in _OPTIONAL_TEXT:
        value = getattr(ex, name)
        if value is not None and not isinstance(value, str):
            raise bad(name, "text")
    for name in ("request_bytes", "response_bytes"):
        value = getattr(ex, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise bad(name, "a byte count")
    if ex.duration_ms is not None and not _number(ex.duration_ms):
        raise bad("duration_ms", "a finite number")
    if not isinstance(ex.timings, Timings) or not all(
        v is None or _number(v) for v in vars(ex.timings).values()
    ):
        raise bad("timings", "finite numbers")
    if ex.token_claims is not None and not isinstance(ex.token_claims, dict):
        raise bad("token_claims", "an object")
    return ex


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- mitmproxy flow files --------------------------------------------------------------------


class _BrokenFlow(Exception):
    """One flow of a flow file that cannot be read; the message says why."""


def _frames(f: IO[bytes], size: int) -> Iterator[tuple[int, bytes]]:
    """The tnetstring frames of a flow file: (type tag, payload), one per flow.

    mitmproxy's own reader trusts the length prefix (up to 12 digits) and asks the OS for
    that many bytes at once; here a length beyond the end of the file is a truncated
    flow, said so, before anything is read."""
    while True:
        c = f.read(1)
        if not c:
            return
        digits = b""
        while c.isdigit() and len(digits) <= 12:
            digits += c
            c = f.read(1)
        if not digits or c != b":":
            raise _BrokenFlow("no tnetstring length prefix where a flow should start")
        length = int(digits)
        remaining = size - f.tell()
        if length + 1 > remaining:
            raise _BrokenFlow(f"truncated: its length prefix says {length} bytes, {max(remaining - 1, 0)} remain")
        payload = f.read(length)
        tag = f.read(1)
        if len(payload) != length or len(tag) != 1:
            raise _BrokenFlow("truncated")
        yield tag[0], payload


def _load_flows(p: Path, limit: int, show_secrets: bool) -> list[Exchange]:
    from mitmproxy import http
    from mitmproxy.flow import Flow
    from mitmproxy.io import compat, tnetstring

    from pulltrace.capture.flows import flow_to_exchange

    out: list[Exchange] = []
    seen: set[str] = set()
    number = 0
    try:
        with p.open("rb") as f:
            frames = _frames(f, os.fstat(f.fileno()).st_size)
            while True:
                number += 1
                frame = next(frames, None)
                if frame is None:
                    break
                try:
                    state = tnetstring.parse(frame[0], memoryview(frame[1]))
                    if not isinstance(state, dict):
                        raise _BrokenFlow("not a flow (its tnetstring is not a dictionary)")
                    flow = Flow.from_state(compat.migrate_flow(state))
                except _FLOW_ERRORS as e:
                    raise _BrokenFlow(_reason(e)) from None
                if not isinstance(flow, http.HTTPFlow):
                    continue
                first = flow.server_conn.id not in seen
                seen.add(flow.server_conn.id)
                try:
                    ex = flow_to_exchange(flow, show_secrets=show_secrets, preview_limit=limit,
                                          first_on_connection=first)
                except _FLOW_ERRORS as e:
                    raise _BrokenFlow(f"not an HTTP exchange pulltrace can read ({_reason(e)})") from None
                out.append(check_exchange(ex, f"{p}: flow {number}"))
    except OSError as e:
        raise CaptureFormatError(f"{p}: cannot be read ({e.strerror or e})") from None
    except _BrokenFlow as e:
        if number == 1:
            raise CaptureFormatError(
                f"{p}: not a mitmproxy flow file, HAR or trace JSON ({e}); record with `mitmdump -w FILE`"
            ) from None
        raise CaptureFormatError(
            f"{p}: flow {number} cannot be read ({e}); the {number - 1} before it were read"
        ) from None
    return out


# -- HAR 1.2 -------------------------------------------------------------------------------


class _BadEntry(Exception):
    """A HAR entry field of the wrong type; the message names the field."""


def _obj(value: object, where: str) -> dict[str, Any]:
    """An optional HAR object: absent/null is empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _BadEntry(f"{where} is not an object")
    return value


def _text(d: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = d.get(key)
    if value is None:
        if required:
            raise _BadEntry(f"{where}.{key} is missing")
        return None
    if not isinstance(value, str):
        raise _BadEntry(f"{where}.{key} is not text")
    return value


def _headers(d: dict[str, Any], where: str) -> list[tuple[str, str]]:
    items = d.get("headers")
    if items is None:
        return []
    if not isinstance(items, list):
        raise _BadEntry(f"{where}.headers is not a list")
    out = []
    for i, h in enumerate(items):
        name = _text(_obj(h, f"{where}.headers[{i}]"), "name", f"{where}.headers[{i}]", required=True)
        value = _text(h, "value", f"{where}.headers[{i}]") or ""
        out.append((name or "", value))
    return out


def _epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        raise _BadEntry(f"startedDateTime {text[:40]!r} is not an ISO 8601 time") from None


def _ms_or_none(value: Any) -> float | None:
    if _number(value) and value >= 0:
        return float(value)
    return None


def _har_connect(timings: dict[str, Any], time: float | None) -> float | None:
    """The TCP connect alone. HAR 1.2 counts `ssl` inside `connect` (browsers write it so), and
    `time` is then the sum of the phases without `ssl`; mitmproxy's savehar writes them apart
    and counts both in `time`. The entry's own `time` says which, else a `connect` shorter than
    its `ssl` cannot include it."""
    connect, ssl = _ms_or_none(timings.get("connect")), _ms_or_none(timings.get("ssl"))
    if connect is None or not ssl or connect < ssl:
        return connect
    if time is not None:
        phases = sum(v for k in ("blocked", "dns", "connect", "send", "wait", "receive")
                     if (v := _ms_or_none(timings.get(k))) is not None)
        if abs(time - phases - ssl) < abs(time - phases):
            return connect
    return round(connect - ssl, 3)


def _count(value: object) -> int | None:
    """A HAR byte count: a whole number >= 0; -1 (HAR's "unknown") and others are None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _body_text(content: dict[str, Any], where: str) -> str | None:
    """A HAR body as text: plain, or base64 that decodes to UTF-8 (a BOM honoured, UTF-16
    with its BOM too); None for binary or broken base64, which no preview can show."""
    text = _text(content, "text", where)
    if text is None or content.get("encoding") != "base64":
        return text
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decode_body(raw)


def decode_body(raw: bytes) -> str | None:
    """Body bytes as text when they are UTF-8 (or UTF-16/32 with a BOM), else None."""
    encoding = next((name for bom, name in _BODY_BOMS if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def har_to_exchanges(data: dict[str, Any], preview_limit: int, source: str = "HAR") -> list[Exchange]:
    """Exchanges from a HAR 1.2 log (from a browser, mitmproxy's savehar or pulltrace), or
    CaptureFormatError naming the entry and field that is not what HAR 1.2 says."""
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise CaptureFormatError(f"{source}: HAR without log.entries")
    out = []
    for n, entry in enumerate(entries, start=1):
        try:
            ex = _har_entry(entry, n, preview_limit)
        except _BadEntry as e:
            raise CaptureFormatError(f"{source}: HAR entry {n} is malformed ({e})") from None
        out.append(check_exchange(ex, f"{source}: HAR entry {n}"))
    return out


def _har_entry(entry: object, n: int, preview_limit: int) -> Exchange:
    from pulltrace.capture.flows import keeps_preview

    entry = _obj(entry, "entry")
    if not entry:
        raise _BadEntry("entry is empty")
    req = _obj(entry.get("request"), "request")
    resp = _obj(entry.get("response"), "response")
    extra = _obj(entry.get("_pulltrace"), "_pulltrace")
    content = _obj(resp.get("content"), "response.content")
    url = _text(req, "url", "request", required=True) or ""
    method = _text(req, "method", "request", required=True) or ""
    status = resp.get("status")
    status = status if isinstance(status, int) and not isinstance(status, bool) and 0 < status < 1000 else None
    mime = _text(content, "mimeType", "response.content") or ""
    text = _body_text(content, "response.content")
    size = _count(content.get("size"))
    # The text's own length decides, not the declared size: a HAR may say 200 and carry 1 MiB.
    preview = text if text is not None and keeps_preview(
        url, status, mime, max(size or 0, len(text.encode("utf-8", "surrogatepass"))), preview_limit
    ) else None
    timings = _obj(entry.get("timings"), "timings")
    t = Timings(
        connect_ms=_har_connect(timings, _ms_or_none(entry.get("time"))),
        tls_ms=_ms_or_none(timings.get("ssl")),
        send_ms=_ms_or_none(timings.get("send")),
        wait_ms=_ms_or_none(timings.get("wait")),
        receive_ms=_ms_or_none(timings.get("receive")),
    )
    post_text = _text(_obj(req.get("postData"), "request.postData"), "text", "request.postData")
    request_headers = _headers(req, "request")
    scheme = _text(extra, "auth_scheme", "_pulltrace")
    if scheme and not any(k.lower() == "authorization" for k, _ in request_headers):
        # pulltrace's own HAR drops Authorization but records its scheme.
        request_headers.append(("Authorization", f"{scheme} …"))
    started = _text(entry, "startedDateTime", "entry", required=True) or ""
    ident = extra.get("id") if extra.get("id") is not None else entry.get("_id")
    if ident is not None and not isinstance(ident, (str, int)):
        raise _BadEntry("_pulltrace.id is not text")
    claims = extra.get("token_claims")
    if claims is not None and not isinstance(claims, dict):
        raise _BadEntry("_pulltrace.token_claims is not an object")
    error = _text(extra, "error", "_pulltrace") or _text(entry, "_error", "entry")
    return Exchange(
        id=str(ident or f"har-{n}"),
        method=method,
        url=url,
        started_at=_epoch(started),
        request_headers=request_headers,
        status=status,
        reason=_text(resp, "statusText", "response") or "",
        response_headers=_headers(resp, "response"),
        http_version=_text(resp, "httpVersion", "response") or _text(req, "httpVersion", "request") or "HTTP/1.1",
        client=_text(extra, "client", "_pulltrace") or "",
        server=_text(entry, "serverIPAddress", "entry") or "",
        request_body_preview=post_text if post_text and len(post_text) <= preview_limit else None,
        response_body_preview=preview,
        request_bytes=_count(req.get("bodySize")),
        response_bytes=size,
        body_sha256=_text(extra, "body_sha256", "_pulltrace"),
        duration_ms=_ms_or_none(entry.get("time")),
        timings=t,
        error=error,
        token_claims=claims,
    )
