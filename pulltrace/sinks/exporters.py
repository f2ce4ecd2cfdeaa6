"""The sinks a capture was asked for (metrics endpoint, OTLP endpoint), as one recorder sink.

The addon configures them from its options on mitmproxy's event loop and calls the
object for each finished pull on one thread (the recorder's, or the one reading pulls back
from the worker process); a sink is swapped whole, so that thread always sees a complete
one. prometheus-client and the OpenTelemetry SDK are
imported only when their option is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pulltrace.model import Session

if TYPE_CHECKING:
    from pulltrace.sinks.metrics import PullMetrics
    from pulltrace.sinks.otlp import PullTracer

log = logging.getLogger("pulltrace")


def _tracer(url: str, *, node: str, version: str) -> PullTracer:
    from pulltrace.sinks.otlp import PullTracer

    return PullTracer(url, node=node, version=version)


class MetricsError(Exception):
    """The metrics endpoint could not be opened (address in use, not an address). Here, not
    in sinks/metrics, so the addon catches it without importing prometheus-client."""


class Exporters:
    """`exporters(session, number)` feeds every configured sink; a failing one is logged once."""

    def __init__(self, *, version: str = "") -> None:
        self.version = version
        self.metrics: PullMetrics | None = None
        self.tracer: PullTracer | None = None
        self._failed: set[str] = set()
        # What each sink was configured with: mitmproxy calls configure again with every
        # option at start, and a sink already serving that value is kept, not reopened.
        self._listen: str | None = None
        self._url: str | None = None

    def set_metrics(self, listen: str, *, node: str) -> str | None:
        """Serve metrics on `listen` (HOST:PORT; empty turns them off); the address served.

        ValueError for text that is not HOST:PORT, MetricsError when it cannot listen.
        """
        if self.metrics is not None and listen == self._listen:
            return f"{self.metrics.host}:{self.metrics.port}"
        old = self.metrics
        if not listen.strip():
            self.metrics, self._listen = None, None
            if old is not None:
                old.close()
            return None
        # Only now: unset (every capture without metrics) must not load prometheus-client.
        from pulltrace.sinks.metrics import PullMetrics, parse_listen

        host, port = parse_listen(listen)
        metrics = PullMetrics(node=node, version=self.version)
        try:
            metrics.serve(host, port)
        except MetricsError:
            if old is None or old.port != port:
                raise  # the old endpoint (if any) goes on serving: the option is refused
            old.close()  # the same port on another address: free it first
            self.metrics, self._listen = None, None
            metrics.serve(host, port)
        if old is not None:
            old.close()
        self.metrics, self._listen = metrics, listen
        return f"{host}:{metrics.port}"

    def set_otlp(self, url: str, *, node: str) -> str | None:
        """Export traces to `url` (empty turns it off); the traces endpoint. ValueError for a bad URL."""
        if self.tracer is not None and url == self._url:
            return self.tracer.endpoint
        # A bad URL is refused (ValueError) before anything changes. The SDK (about a hundred
        # modules) is imported only for a URL: a capture without traces never loads it.
        tracer = _tracer(url, node=node, version=self.version) if url.strip() else None
        old, self.tracer, self._url = self.tracer, tracer, url if tracer is not None else None
        if old is not None:
            # Flushing may wait for a slow endpoint: never on mitmproxy's event loop.
            threading.Thread(target=old.close, name="pulltrace-otlp-close", daemon=True).start()
        return tracer.endpoint if tracer is not None else None

    def __call__(self, session: Session, number: int) -> None:
        metrics, tracer = self.metrics, self.tracer
        if metrics is not None:
            self._guard("metrics", metrics.observe, session)
        if tracer is not None:
            self._guard("otlp", tracer.export, session)

    def _guard(self, name: str, sink: Callable[[Session], None], session: Session) -> None:
        try:
            sink(session)
        except Exception:  # noqa: BLE001 - one sink's failure must not stop the capture or the others
            if name not in self._failed:
                self._failed.add(name)
                log.exception("pulltrace: the %s export failed on a pull; the capture goes on (logged once)", name)

    def active(self) -> bool:
        """Whether any sink wants finished pulls (the worker process then sends them back)."""
        return self.metrics is not None or self.tracer is not None

    def close(self) -> None:
        """Flush the traces still queued and stop serving metrics (end of the capture)."""
        tracer, self.tracer, self._url = self.tracer, None, None
        if tracer is not None:
            tracer.close()
        metrics, self.metrics, self._listen = self.metrics, None, None
        if metrics is not None:
            metrics.close()
