"""Every request the client sends becomes a `model.Exchange`, in the order it was sent.

Bodies are never kept: manifests, tokens and errors get a bounded text preview; blob bodies
only a byte count and, when the whole body passed, its sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
import time
from collections.abc import Callable

import httpx

from pulltrace import __version__
from pulltrace.model import Exchange, Timings

CLIENT_NAME = f"pulltrace/{__version__}"
PREVIEW_LIMIT = 16 * 1024
_TEXT_TYPES = ("json", "text/", "xml", "html", "javascript", "x-www-form-urlencoded")


def is_text(content_type: str | None) -> bool:
    return content_type is not None and any(t in content_type.lower() for t in _TEXT_TYPES)


def preview(body: bytes, content_type: str | None) -> str | None:
    """The start of a small text body; None for binary ones (blobs)."""
    if not body or not is_text(content_type):
        return None
    return body[:PREVIEW_LIMIT].decode("utf-8", errors="replace")


class PhaseClock:
    """Collects httpcore's trace events for one request into HAR-style phase timings."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self.server: str = ""

    def __call__(self, event: str, info: dict) -> None:
        self.marks[event] = time.perf_counter()
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            try:
                addr = stream.get_extra_info("server_addr") if stream is not None else None
                if addr:
                    self.server = f"{addr[0]}:{addr[1]}"
            except (AttributeError, OSError, TypeError, IndexError):  # a nicety; a transport may not expose it
                pass

    def span(self, start: str, end: str) -> float | None:
        a, b = self.marks.get(start), self.marks.get(end)
        return round((b - a) * 1000, 3) if a is not None and b is not None else None

    def first(self, *names: str) -> float | None:
        for name in names:
            if name in self.marks:
                return self.marks[name]
        return None

    def timings(self, body_done: float | None) -> Timings:
        headers_done = self.first("http11.receive_response_headers.complete",
                                  "http2.receive_response_headers.complete")
        receive = None
        if headers_done is not None and body_done is not None:
            receive = round((body_done - headers_done) * 1000, 3)
        return Timings(
            connect_ms=self.span("connection.connect_tcp.started", "connection.connect_tcp.complete"),
            tls_ms=self.span("connection.start_tls.started", "connection.start_tls.complete"),
            send_ms=self.span("http11.send_request_headers.started", "http11.send_request_body.complete"),
            wait_ms=self.span("http11.send_request_body.complete", "http11.receive_response_headers.complete"),
            receive_ms=receive,
        )


class Recorder:
    """Thread-safe list of exchanges; ids are `c0001`, `c0002`… in sending order."""

    def __init__(self, client: str = CLIENT_NAME) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._exchanges: list[Exchange] = []
        self._clocks: dict[str, tuple[PhaseClock, float]] = {}

    def begin(self, request: httpx.Request) -> tuple[Exchange, PhaseClock]:
        clock = PhaseClock()
        request.extensions["trace"] = clock
        body = request.content if request.method in ("POST", "PUT", "PATCH") else b""
        with self._lock:
            ex = Exchange(
                id=f"c{next(self._ids):04d}",
                method=request.method,
                url=str(request.url),
                started_at=time.time(),
                request_headers=[(k, v) for k, v in request.headers.multi_items()],
                client=self.client,
                request_bytes=len(body),
                request_body_preview=preview(body, request.headers.get("content-type")),
                secrets_masked=False,
            )
            self._exchanges.append(ex)
            self._clocks[ex.id] = (clock, time.perf_counter())
        return ex, clock

    def response(self, ex: Exchange, response: httpx.Response) -> None:
        ex.status = response.status_code
        ex.reason = response.reason_phrase
        ex.http_version = response.http_version
        ex.response_headers = [(k, v) for k, v in response.headers.multi_items()]
        clock, _ = self._clocks.get(ex.id, (None, 0.0))
        if clock is not None and clock.server:
            ex.server = clock.server

    def finish(self, ex: Exchange, *, body: bytes | None = None, nbytes: int | None = None,
               sha256: str | None = None, error: str | None = None) -> None:
        """Close an exchange: its body facts, its timings, or the error that ended it."""
        now = time.perf_counter()
        clock, began = self._clocks.pop(ex.id, (None, now))
        if body is not None:
            ex.response_bytes = len(body)
            ex.body_sha256 = "sha256:" + hashlib.sha256(body).hexdigest()
            ex.response_body_preview = preview(body, ex.content_type)
        if nbytes is not None:
            ex.response_bytes = nbytes
        if sha256 is not None:
            ex.body_sha256 = sha256
        if error:
            ex.error = error
        ex.duration_ms = round((now - began) * 1000, 3)
        if clock is not None:
            ex.timings = clock.timings(now)

    def exchanges(self, mask: Callable[[Exchange], Exchange] | None = None) -> list[Exchange]:
        """Copies of everything recorded, masked when `mask` is given."""
        with self._lock:
            copies = [dataclasses.replace(ex) for ex in self._exchanges]
        if mask is None:
            return copies
        return [mask(ex) for ex in copies]

    def __len__(self) -> int:
        with self._lock:
            return len(self._exchanges)
