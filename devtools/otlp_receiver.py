"""A small OTLP/HTTP receiver: what a collector would be, for tests and the fleet demo.

No OpenTelemetry collector is installable here, so this server accepts
`POST /v1/traces` (protobuf, optionally gzip), decodes each request with
`opentelemetry-proto` and keeps the spans, grouped by trace id. It answers 200 with an
empty ExportTraceServiceResponse, as a collector does.
"""

from __future__ import annotations

import gzip
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (lists for arrays)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


@dataclass
class Span:
    """One received span, decoded: ids as hex, times in ns, attributes and events as dicts."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status_code: int
    resource: dict[str, Any]
    scope: str


@dataclass
class Received:
    requests: int = 0
    spans: list[Span] = field(default_factory=list)

    def traces(self) -> dict[str, list[Span]]:
        out: dict[str, list[Span]] = defaultdict(list)
        for span in self.spans:
            out[span.trace_id].append(span)
        return dict(out)


def decode(body: bytes) -> list[Span]:
    """Every span of one ExportTraceServiceRequest body."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append(Span(
                    trace_id=s.trace_id.hex(), span_id=s.span_id.hex(), parent_id=s.parent_span_id.hex(),
                    name=s.name, kind=s.kind, start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano,
                    attributes=attributes(s.attributes),
                    events=[(e.name, attributes(e.attributes)) for e in s.events],
                    status_code=s.status.code, resource=resource, scope=ss.scope.name,
                ))
    return spans


class OtlpReceiver:
    """`with OtlpReceiver() as r:` … `r.url` is the base URL; `r.received` what arrived."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received = Received()
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if self.headers.get("content-encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                spans = decode(body)
                with receiver.arrived:
                    receiver.received.requests += 1
                    receiver.received.spans.extend(spans)
                    receiver.arrived.notify_all()
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait_for(self, spans: int, timeout: float = 30.0) -> bool:
        """Until at least `spans` spans arrived (False if they did not within timeout)."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received.spans) >= spans, timeout)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
