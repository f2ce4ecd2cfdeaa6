"""mitmproxy HTTPFlow -> Exchange: the one place a flow's wire facts enter the model.

Used by the live addon and by the flow-file importer, so both give the same trace.
Secrets are masked here (unless the user asked to see them), bodies are kept only as
bounded previews of small text/JSON responses (manifests, tokens, errors), never blobs.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from mitmproxy import http

from pulltrace.classify import parse_v2_path
from pulltrace.model import Exchange, Timings
from pulltrace.redact import finish_exchange, mask_exchange

# Large enough for a manifest index of many platforms, small enough to never matter.
DEFAULT_PREVIEW_LIMIT = 64 * 1024

_TEXT_TYPES = ("json", "text/", "prettyjws", "x-www-form-urlencoded", "xml", "html")


def is_text_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    lowered = content_type.lower()
    return any(t in lowered for t in _TEXT_TYPES)


def is_blob_url(url: str) -> bool:
    """A /v2/<name>/blobs/<digest> URL: its body is a blob, never kept."""
    v2 = parse_v2_path(urlsplit(url).path)
    return v2 is not None and v2.endpoint == "blob"


def keeps_preview(url: str, status: int | None, content_type: str | None, size: int | None, limit: int) -> bool:
    """Whether a response body may be kept: small text, and not a blob's 2xx body."""
    if limit <= 0 or size is None or size > limit or not is_text_type(content_type):
        return False
    if status is not None and 200 <= status < 300 and is_blob_url(url):
        return False
    return True


def _content_length(headers: http.Headers) -> int | None:
    length = headers.get("content-length")
    return int(length) if length and length.isdigit() else None


def _ms(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier) * 1000.0, 3)


def _addr(address: tuple | None) -> str:
    if not address:
        return ""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _split_at(start: float | None, end: float | None, at: float) -> tuple[float | None, float | None]:
    """A setup phase [start, end] cut at the request's start: (ms inside the request, ms before it)."""
    if start is None or end is None:
        return None, None
    if end <= at:
        return None, _ms(end, start)
    if start >= at:
        return _ms(end, start), None
    return _ms(end, at), _ms(at, start)


def flow_timings(flow: http.HTTPFlow, *, first_on_connection: bool = True) -> Timings:
    """The flow's phases, each inside the request's own time, so they add up to at most its
    duration. A connection's setup counts only for the first request on it; the part of it
    done before the request started is kept apart (`early_*`): mitmproxy's default eager
    strategy connects and handshakes upstream at CONNECT time, often long before the request.
    A connection opened for the request (lazy) is set up after the request arrived, so the
    wait for the answer starts once it is ready, not when the request ended."""
    req, resp, conn = flow.request, flow.response, flow.server_conn
    begin = req.timestamp_start
    t = Timings(send_ms=_ms(req.timestamp_end, begin))
    ready = None
    if first_on_connection:
        t.connect_ms, t.early_connect_ms = _split_at(conn.timestamp_start, conn.timestamp_tcp_setup, begin)
        t.tls_ms, t.early_tls_ms = _split_at(conn.timestamp_tcp_setup, conn.timestamp_tls_setup, begin)
        ready = conn.timestamp_tls_setup or conn.timestamp_tcp_setup
    if resp is not None:
        asked = max((x for x in (req.timestamp_end, ready) if x is not None), default=None)
        t.wait_ms = _ms(resp.timestamp_start, asked)
        t.receive_ms = _ms(resp.timestamp_end, resp.timestamp_start)
    return t


def flow_to_exchange(
    flow: http.HTTPFlow,
    *,
    show_secrets: bool = False,
    preview_limit: int = DEFAULT_PREVIEW_LIMIT,
    streamed_bytes: int | None = None,
    streamed_sha256: str | None = None,
    first_on_connection: bool = True,
    finish: bool = True,
) -> Exchange:
    """The Exchange a flow records; `streamed_*` come from the addon's streaming hasher.

    `finish=False` leaves the last step, `finish_exchange`, to the caller: the addon sends
    raw exchanges to its worker process, which masks them there, off the proxy's process."""
    req, resp = flow.request, flow.response
    url = req.pretty_url
    request_preview = None
    raw_req = req.raw_content
    if raw_req and len(raw_req) <= preview_limit and is_text_type(req.headers.get("content-type")):
        request_preview = req.get_text(strict=False)
    ex = Exchange(
        id=flow.id,
        method=req.method,
        url=url,
        started_at=req.timestamp_start,
        request_headers=[(k, v) for k, v in req.headers.items(multi=True)],
        http_version=req.http_version,
        client=_addr(flow.client_conn.peername),
        server=_addr(flow.server_conn.address),
        request_body_preview=request_preview,
        request_bytes=len(raw_req) if raw_req is not None else _content_length(req.headers),
    )
    ex.timings = flow_timings(flow, first_on_connection=first_on_connection)
    if resp is not None:
        ex.status = resp.status_code
        ex.reason = resp.reason
        ex.http_version = resp.http_version
        ex.response_headers = [(k, v) for k, v in resp.headers.items(multi=True)]
        ex.duration_ms = _ms(resp.timestamp_end or resp.timestamp_start, req.timestamp_start)
        raw = resp.raw_content
        if raw is not None:
            ex.response_bytes = len(raw)
            content_type = resp.headers.get("content-type")
            if keeps_preview(url, resp.status_code, content_type, len(raw), preview_limit):
                ex.response_body_preview = resp.get_text(strict=False)
            if raw:
                ex.body_sha256 = "sha256:" + hashlib.sha256(resp.get_content(strict=False) or b"").hexdigest()
        if streamed_bytes is not None:
            ex.response_bytes = streamed_bytes
            ex.body_sha256 = streamed_sha256
        if ex.response_bytes is None:
            ex.response_bytes = _content_length(resp.headers)
    if flow.error is not None:
        ex.error = flow.error.msg
    if ex.duration_ms is None and flow.error is not None and flow.error.timestamp:
        ex.duration_ms = _ms(flow.error.timestamp, req.timestamp_start)
    ex.secrets_masked = False  # raw until finished
    if not finish:
        return ex
    return finish_exchange(ex, show_secrets=show_secrets)


# -- connections that never carried an HTTP flow --------------------------------------

CONNECT_ERROR = "connect"
TLS_ERROR = "tls"
CLIENT_REJECTED_CERT = "client rejected the proxy's certificate"


def destination_url(address: tuple | None, sni: str | None = None, *, tls: bool = True) -> str:
    """`https://host:port/` for a connection: what the client asked the proxy to reach.

    A tunnel (CONNECT) to a registry carries TLS, so a failed connection is https unless it
    was plain (port 80, or a plain-HTTP request that mitmproxy reports as its own flow).
    """
    host = sni or (str(address[0]) if address else "")
    port = int(address[1]) if address and len(address) > 1 else (443 if tls else 80)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    scheme = "https" if tls else "http"
    return f"{scheme}://{host}:{port}/"


def failure_exchange(
    *,
    id: str,
    what: str,
    message: str,
    url: str,
    client: tuple | None,
    server: tuple | None,
    started_at: float | None,
    ended_at: float,
) -> Exchange:
    """A connection or TLS failure as an Exchange: no status, and an error saying what failed.

    `what` is CONNECT_ERROR, TLS_ERROR or CLIENT_REJECTED_CERT (the engine's vocabulary,
    notes ENGINE-API); the request line was never seen, so the method is CONNECT.
    """
    start = started_at if started_at else ended_at
    ex = Exchange(
        id=id,
        method="CONNECT",
        url=url,
        started_at=start,
        http_version="",
        client=_addr(client),
        server=_addr(server),
        error=f"{what}: {message or 'failed'}",
        duration_ms=_ms(ended_at, start),
    )
    return mask_exchange(ex)


def client_tls_failure(message: str) -> str:
    """Which failure a client-side handshake error is: a rejected certificate says so plainly.

    mitmproxy words it "The client does not trust the proxy's certificate for HOST (…)" when
    the client answered with a certificate alert (Go clients, curl, OpenSSL without its CA).
    """
    lowered = message.lower()
    # The alerts mitmproxy itself reads as distrust (unknown ca, bad certificate, certificate
    # unknown); "disconnected during the handshake" is only a guess, and stays a TLS error.
    if lowered.startswith("the client does not trust the proxy's certificate") or any(
        alert in lowered for alert in ("unknown ca", "bad certificate", "certificate unknown")
    ):
        return CLIENT_REJECTED_CERT
    return TLS_ERROR
