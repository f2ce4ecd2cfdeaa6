"""Finished pulls as OpenTelemetry traces, sent over OTLP/HTTP (protobuf).

    mitmdump -s addons/pulltrace.py --set pulltrace_otlp=http://collector:4318

Each pull is one trace: a root span from its first request to its last response, and a
child span per step with the exchange's own start and end, named and attributed after
the HTTP semantic conventions (`url.full` masked, `http.request.method`,
`http.response.status_code`, `server.address`, `http.request.resend_count`) plus
pulltrace's own (`pulltrace.step.kind`, digest, layer index). Findings are span events.
The node is a resource attribute, so a backend can group the fleet by machine.

Built on the official SDK: spans go to a BatchSpanProcessor, whose own thread exports
them; `export(session)` only queues, and a full queue drops spans rather than waiting.
An endpoint that is down costs one warning (and a note when it answers again), never
the capture. Every exported string passes through `pulltrace.redact.mask_text`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from pulltrace.model import Finding, Session, Step
from pulltrace.redact import mask_text, mask_url
from pulltrace.sinks import facts

log = logging.getLogger("pulltrace")

SCOPE = "pulltrace"
# Seconds one export may take (retries included) before the batch is dropped; the
# processor's thread waits this long at most, the proxy never.
EXPORT_TIMEOUT_S = 5.0
# The SDK logs every failed batch (and each retry); the warning below says it once.
_QUIET = ("opentelemetry.exporter.otlp.proto.http", "opentelemetry.sdk.trace.export",
          "opentelemetry.sdk._shared_internal")

AttributeValue = str | bool | int | float | Sequence[str]


def traces_endpoint(url: str) -> str:
    """OTLP/HTTP's convention: a base URL (no path) gets `/v1/traces`; a URL with a path is used as is."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:4318)")
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/traces")
    return urlunsplit(parts)


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _text(value: str) -> str:
    return mask_text(value)


class _WarnOnce(SpanExporter):
    """Wraps the OTLP exporter: a failing endpoint is one warning, not a log line per batch."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.failing = False
        self.failures = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        reason = ""
        try:
            result = self.inner.export(spans)
        except Exception as e:  # noqa: BLE001 - an exporter failure must not reach the capture
            result, reason = SpanExportResult.FAILURE, f": {e}"
        if result is SpanExportResult.SUCCESS:
            if self.failing:
                log.info("pulltrace: OTLP endpoint %s answers again", self.endpoint)
            self.failing = False
        else:
            self.failures += 1
            if not self.failing:
                log.warning("pulltrace: cannot send traces to %s%s; the capture goes on and traces are "
                            "dropped until it answers", self.endpoint, reason or " (no answer, or refused)")
            self.failing = True
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _quiet_sdk_logs() -> None:
    # The exporter logs each failed batch and retry at WARNING/ERROR through the root
    # handler mitmproxy installs; _WarnOnce reports the failure itself.
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.CRITICAL)


class PullTracer:
    """One tracer provider of its own (never the global one), exporting each finished pull."""

    def __init__(self, endpoint: str, *, node: str, version: str = "",
                 exporter: SpanExporter | None = None, schedule_delay_ms: int = 1000,
                 timeout_s: float = EXPORT_TIMEOUT_S) -> None:
        self.endpoint = traces_endpoint(endpoint)
        self.timeout_s = timeout_s
        inner = exporter if exporter is not None else OTLPSpanExporter(endpoint=self.endpoint, timeout=timeout_s)
        self.exporter = _WarnOnce(inner, self.endpoint)
        _quiet_sdk_logs()
        resource = Resource.create({
            "service.name": "pulltrace",
            "service.version": version,
            "host.name": _text(node),
            "pulltrace.node": _text(node),
        })
        self.provider = TracerProvider(resource=resource)
        self.processor = BatchSpanProcessor(self.exporter, schedule_delay_millis=schedule_delay_ms,
                                            export_timeout_millis=timeout_s * 1000)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer(SCOPE, version)

    def export(self, session: Session) -> None:
        """Queue one finished pull as a trace; returns at once."""
        if not session.steps:
            return
        start, end = facts.session_bounds(session)
        root = self.tracer.start_span(_root_name(session), kind=SpanKind.INTERNAL, start_time=_ns(start),
                                      attributes=_clean(_session_attributes(session)))
        context = trace.set_span_in_context(root)
        positions = facts.layer_positions(session)
        seen: Counter[tuple[str, str]] = Counter()
        by_step = _findings_by_step(session.findings)
        for step in session.steps:
            ex = step.exchange
            url = _text(mask_url(ex.url))
            resends = seen[(ex.method, url)]
            seen[(ex.method, url)] += 1
            span = self.tracer.start_span(f"{ex.method} {step.kind}", context=context, kind=SpanKind.CLIENT,
                                          start_time=_ns(facts.started(ex)),
                                          attributes=_clean(_step_attributes(step, url, resends, positions)))
            if (ex.status is not None and ex.status >= 400) or ex.error:
                span.set_status(Status(StatusCode.ERROR, _text(ex.error or "")) if ex.error
                                else Status(StatusCode.ERROR))
            for finding in by_step.get(step.id, []):
                span.add_event(finding.rule, _clean(_finding_attributes(finding)), timestamp=_ns(facts.ended(ex)))
            span.end(end_time=_ns(facts.ended(ex)))
        for finding in session.findings:
            root.add_event(finding.rule, _clean(_finding_attributes(finding)), timestamp=_ns(end))
        if facts.is_pull(session) and facts.pull_result(session) == facts.FAILED:
            root.set_status(Status(StatusCode.ERROR, "the pull failed"))
        root.end(end_time=_ns(end))

    def close(self) -> None:
        """Send what is queued (waiting about the export timeout at most), then stop the exporter thread."""
        self.provider.force_flush(int(self.timeout_s * 1000))
        self.provider.shutdown()


def _root_name(session: Session) -> str:
    what = session.summary.image or session.summary.registry or session.id
    return _text(f"{session.action} {what}")


def _session_attributes(session: Session) -> dict[str, Any]:
    s = session.summary
    return {
        "pulltrace.session.id": session.id,
        "pulltrace.action": session.action,
        "pulltrace.result": facts.pull_result(session) if facts.is_pull(session) else None,
        "pulltrace.image": s.image or None,
        "pulltrace.registry": s.registry or None,
        "pulltrace.mirror": s.mirror,
        "pulltrace.fallback": s.fallback,
        "pulltrace.platform": s.platform,
        "pulltrace.manifest.digest": s.manifest_digest,
        "pulltrace.auth": s.auth,
        "pulltrace.layers": s.layers,
        "pulltrace.layers_fetched": s.layers_fetched,
        "pulltrace.bytes": s.bytes,
        "pulltrace.steps": len(session.steps),
        "pulltrace.findings": [f.rule for f in session.findings],
        "pulltrace.client": session.client or None,
    }


def _step_attributes(step: Step, url: str, resends: int, positions: dict[str, int]) -> dict[str, Any]:
    ex = step.exchange
    host, port = facts.host_and_port(ex)
    digest = facts.step_digest(step)
    attrs: dict[str, Any] = {
        "url.full": url,
        "url.scheme": urlsplit(ex.url).scheme or None,
        "http.request.method": ex.method,
        "http.response.status_code": ex.status,
        "server.address": host or None,
        "server.port": port,
        "network.protocol.version": ex.http_version.removeprefix("HTTP/") or None,
        "http.response.body.size": ex.response_bytes,
        "user_agent.original": ex.request_header("user-agent"),
        "pulltrace.step.index": step.index,
        "pulltrace.step.kind": str(step.kind),
        "pulltrace.step.id": step.id,
        "pulltrace.repository": step.repository,
        "pulltrace.reference": step.reference,
        "pulltrace.digest": digest,
        "pulltrace.layer.index": positions.get(digest) if digest else None,
        "pulltrace.body.sha256": ex.body_sha256,
    }
    if resends:
        # Semantic conventions: set on a resend only (an auth retry, a repeated request).
        attrs["http.request.resend_count"] = resends
    if ex.error:
        attrs["error.type"] = ex.error.split(":", 1)[0] or "error"
    elif ex.status is not None and ex.status >= 400:
        attrs["error.type"] = str(ex.status)
    return attrs


def _finding_attributes(finding: Finding) -> dict[str, Any]:
    return {
        "pulltrace.finding.rule": finding.rule,
        "pulltrace.finding.severity": str(finding.severity),
        "pulltrace.finding.title": finding.title,
        "pulltrace.finding.cause": finding.cause,
        "pulltrace.finding.fix": finding.fix,
        "pulltrace.finding.steps": list(finding.steps),
    }


def _findings_by_step(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        for step_id in finding.steps:
            out.setdefault(step_id, []).append(finding)
    return out


def _clean(attrs: dict[str, Any]) -> dict[str, AttributeValue]:
    """Drop unset values; mask every string (and every string in a list) on the way out."""
    out: dict[str, AttributeValue] = {}
    for key, value in attrs.items():
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        if isinstance(value, str):
            out[key] = _text(value)
        elif isinstance(value, list | tuple):
            out[key] = [_text(str(v)) for v in value]
        elif isinstance(value, bool | int | float):
            out[key] = value
        else:
            out[key] = _text(str(value))
    return out
