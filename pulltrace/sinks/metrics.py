"""Finished pulls as Prometheus metrics, served on HOST:PORT for a Prometheus to scrape.

    mitmdump -s addons/pulltrace.py --set pulltrace_metrics=0.0.0.0:9464

Built on the official `prometheus-client` with a registry of its own (no process or
platform collectors of the host program, no global state shared with another addon).
Every series is updated when a pull closes, from the thread that closes it; scrapes are
answered by the client library's own HTTP thread, so neither ever waits for the proxy.
Label values are hosts, registries and step kinds: bounded by the registries a node
talks to, never by images, digests or clients.
"""

from __future__ import annotations

import errno
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pulltrace.model import Session
from pulltrace.redact import mask_text
from pulltrace.sinks import facts
from pulltrace.sinks.exporters import MetricsError

# Pulls take from a fraction of a second (everything cached) to many minutes (GBs over a
# slow link): buckets from 100 ms to 30 min.
PULL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# Token lifetimes: 60 s (the spec's default), 300 s (Docker Hub), hours (GCR, ECR's 12 h).
TOKEN_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (every address) or `[::1]:PORT` -> (host, port); ValueError says why."""
    value = text.strip()
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9464 or :9464)")
    number = int(port)
    if number > 65535:
        raise ValueError(f"port {number} is out of range 0-65535 (0: any free port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", number


class PullMetrics:
    """The series; `observe(session)` once per finished pull."""

    def __init__(self, *, node: str = "", version: str = "", registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.info = Gauge("pulltrace_info", "pulltrace is exporting: its node and version (always 1).",
                          ["node", "version"], registry=r)
        self.info.labels(node=mask_text(node), version=version).set(1)
        self.pulls = Counter("pulltrace_pulls", "Finished pulls by registry and result (ok or failed).",
                             ["registry", "result"], registry=r)
        self.duration = Histogram("pulltrace_pull_duration_seconds",
                                  "Wall time of each finished pull, first request to last response.",
                                  ["registry"], buckets=PULL_BUCKETS, registry=r)
        self.bytes = Counter("pulltrace_bytes", "Response body bytes by the host that served them and step kind.",
                             ["host", "kind"], registry=r)
        self.responses = Counter("pulltrace_responses",
                                 "Responses by serving host and status class (401, 403, 404 and 429 apart; "
                                 "none when no response came).", ["host", "status_class"], registry=r)
        self.ratelimit_remaining = Gauge("pulltrace_ratelimit_remaining",
                                         "Requests left in the registry's window, from its last "
                                         "RateLimit-Remaining header.", ["host"], registry=r)
        self.ratelimit_limit = Gauge("pulltrace_ratelimit_limit",
                                     "Requests allowed per window, from the last RateLimit-Limit header.",
                                     ["host"], registry=r)
        self.ratelimit_window = Gauge("pulltrace_ratelimit_window_seconds",
                                      "The rate-limit window (the w= parameter), in seconds.", ["host"], registry=r)
        self.token_lifetime = Histogram("pulltrace_token_lifetime_seconds",
                                        "Lifetime of each token issued (expires_in, else exp - iat, else the "
                                        "spec's 60 s), by token service host.", ["service"],
                                        buckets=TOKEN_BUCKETS, registry=r)
        self.host = ""
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def observe(self, session: Session) -> None:
        """Count one finished pull (any session: a login's token counts, only pulls count as pulls)."""
        if facts.is_pull(session):
            registry = mask_text(session.summary.registry)
            self.pulls.labels(registry=registry, result=facts.pull_result(session)).inc()
            start, end = facts.session_bounds(session)
            self.duration.labels(registry=registry).observe(max(0.0, end - start))
        for step in session.steps:
            ex = step.exchange
            host = mask_text(facts.serving_host(ex))
            self.responses.labels(host=host, status_class=facts.status_class(ex.status)).inc()
            if ex.response_bytes:
                self.bytes.labels(host=host, kind=str(step.kind)).inc(ex.response_bytes)
            lifetime = facts.token_lifetime(step)
            if lifetime is not None:
                self.token_lifetime.labels(service=host).observe(lifetime)
        for reading in facts.rate_limits(session):
            host = mask_text(reading.host)
            self.ratelimit_remaining.labels(host=host).set(reading.remaining)
            if reading.limit is not None:
                self.ratelimit_limit.labels(host=host).set(reading.limit)
            if reading.window_s is not None:
                self.ratelimit_window.labels(host=host).set(reading.window_s)

    def serve(self, host: str, port: int) -> None:
        """Answer scrapes on host:port from a thread of the client library; MetricsError if it cannot."""
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
            self.host = host
        except OSError as e:
            why = "the address is in use (another exporter, or a second pulltrace?)" \
                if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
            raise MetricsError(f"cannot serve metrics on {host}:{port}: {why}") from e

    @property
    def port(self) -> int | None:
        return self._server.server_port if self._server is not None else None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
