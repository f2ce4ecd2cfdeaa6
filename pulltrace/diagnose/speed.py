"""Speed rules: why a pull was slow, when one layer explains it.

A layer far slower than its peers points at the host or path that served it (a slow CDN
edge, a rate-limited mirror); a cache miss on the layer that took most of the pull says the
edge fetched it from the origin first (moby#19916, docker/hub-feedback#1675, containerd#9846).
Both need real sizes: a blob of a few KiB is all handshake, and its "throughput" says nothing.
A connection that took a second or more to open is slow whatever it carried; through a proxy
that connects when the client's CONNECT arrives (mitmproxy's default), that time lies before
every request, so no step's duration shows it and only this rule names it.
"""

from __future__ import annotations

from statistics import median
from typing import NamedTuple

from pulltrace.diagnose.base import finding
from pulltrace.model import Finding, Session, Severity, Step
from pulltrace.timing import HIT, MISS, BlobDelivery, blob_deliveries, session_span_ms, time_split
from pulltrace.urls import host_port

# Below this a layer's time is mostly connection setup and latency, not transfer.
MIN_LAYER_BYTES = 1024 * 1024
# "Far slower": under a quarter of the median throughput of the pull's other layers.
SLOW_FACTOR = 4.0
# Worth naming: the time the layer lost against its peers' median rate is at least this share of
# the pull's wall time. Relative, not a fixed number of seconds: 1 MiB in 40 ms instead of 10 ms
# is not why a 2 s pull is slow, and 200 MiB in 3 s instead of 0.8 s is why a 4 s one is.
MIN_LOST_SHARE = 0.25
# "Most of the pull": the layer's fetch spanned at least this share of the pull's wall time.
MOST_OF_PULL = 0.5
# A connection's setup (TCP, then TLS) this long is no network's normal: a TCP handshake takes a
# round trip, TLS one or two more; Linux sends a lost SYN again only after a second.
SLOW_SETUP_MS = 1000.0


_MiB = 1024 * 1024


def human_bytes(n: int | None) -> str:
    """`20.0 MiB`: these rules only speak of blobs of MIN_LAYER_BYTES or more (the doctor is
    core and formats its own numbers; the views have theirs in render.fmt)."""
    return f"{(n or 0) / _MiB:.1f} MiB"


def human_ms(ms: float | None) -> str:
    ms = ms or 0.0
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def rate(bps: float) -> str:
    """`2.4 MiB/s`, `512.0 KiB/s`."""
    return f"{bps / _MiB:.1f} MiB/s" if bps >= _MiB else f"{bps / 1024:.1f} KiB/s"


def short_digest(digest: str | None) -> str:
    """`69db334cdc5e`: the 12 hex digits docker prints beside each layer while it pulls."""
    return (digest or "").split(":", 1)[-1][:12]


def _named(d: BlobDelivery) -> str:
    """`layer 2/3 (69db334cdc5e)`, so the finding matches the line docker printed for it."""
    short = short_digest(d.digest)
    return f"{d.role} ({short})" if short else d.role


def _verdict(d: BlobDelivery) -> str:
    """` (cache MISS)` for a title; "" when no header said."""
    return f" (cache {d.cache.verdict.upper()})" if d.cache.verdict in (HIT, MISS) else ""


def _sized(session: Session) -> list[BlobDelivery]:
    return [d for d in blob_deliveries(session)
            if d.is_layer and (d.bytes or 0) >= MIN_LAYER_BYTES and d.throughput is not None]


def _cache_text(d: BlobDelivery) -> str:
    if not d.step.exchange.response_headers:
        return "recorded no response headers, so its cache is unknown"
    if not d.cache.headers:
        return "sent no cache headers"
    said = ", ".join(f"{k}: {v}" for k, v in d.cache.headers if k in ("cf-cache-status", "x-cache", "age"))
    return f"cache said {said}" if said else f"cache verdict {d.cache.verdict or 'unknown'}"


def slow_layer(session: Session, **_: object) -> list[Finding]:
    """A layer whose throughput is far below the median of the pull's other sizeable layers,
    and whose lost time is a real share of the pull."""
    layers = _sized(session)
    span = session_span_ms(session)
    if len(layers) < 3 or span <= 0:
        return []  # a median of one peer is that peer: too little to call anything slow
    out = []
    for d in layers:
        peers = [p.throughput for p in layers if p is not d and p.throughput is not None]
        typical = median(peers)
        assert d.throughput is not None
        lost_ms = (d.time_ms or 0.0) - 1000.0 * (d.bytes or 0) / typical
        if d.throughput * SLOW_FACTOR > typical or lost_ms < MIN_LOST_SHARE * span:
            continue
        digest = f"{d.digest}, " if d.digest else ""
        via = f" after a redirect from {d.redirected_from}" if d.redirected_from else ""
        out.append(finding(
            "speed.slow-layer",
            Severity.WARNING,
            f"{_named(d)} came {typical / d.throughput:.0f}× slower than the other layers, from {d.host}"
            f"{_verdict(d)}",
            f"{d.role} ({digest}{human_bytes(d.bytes)}) arrived at {rate(d.throughput)} from {d.host}{via}, in "
            f"{human_ms(d.time_ms)} of the pull's {human_ms(span)}; the pull's other layers of "
            f"{human_bytes(MIN_LAYER_BYTES)} or more came at a median {rate(typical)}. {d.host} {_cache_text(d)}.",
            f"Pull again and compare: if {d.host} stays slow for this blob, the path to that host (or a rate limit "
            "on it) is the bottleneck — try another mirror or region; if it is fast the second time, the first "
            "fetch filled a cache.",
            [s for s in (d.redirect, d.step) if s is not None],
        ))
    return out


def fetch_ms(d: BlobDelivery) -> float | None:
    """How long a client waited for this blob: from its first request (the redirect, if any) to the
    download's last byte. Not the sum of the two durations: dockerd through a proxy lets a second
    pass between the 307 and the CDN request (a new connection, a CONNECT), and it waits all the same."""
    ex = d.step.exchange
    if ex.duration_ms is None:
        return None
    first = d.redirect.exchange.started_at if d.redirect is not None else ex.started_at
    return max(0.0, (ex.started_at - first) * 1000.0 + ex.duration_ms)


def costly_miss(session: Session, **_: object) -> list[Finding]:
    """A cache MISS on the layer the pull waited for longest, when that wait spans most of the pull."""
    span = session_span_ms(session)
    layers = [(d, ms) for d in blob_deliveries(session) if d.is_layer and (d.bytes or 0) >= MIN_LAYER_BYTES
              and (ms := fetch_ms(d)) is not None]
    if not layers or span <= 0:
        return []
    top, waited = max(layers, key=lambda pair: pair[1])
    share = waited / span
    if top.cache.verdict != MISS or share < MOST_OF_PULL:
        return []
    speed = f", arriving at {rate(top.throughput)}" if top.throughput else ""
    pop = f" (edge {top.cache.pop})" if top.cache.pop else ""
    digest = f"{top.digest}, " if top.digest else ""
    return [finding(
        "speed.cache-miss",
        Severity.INFO,
        f"{_named(top)} missed the cache on {top.host} and took {share:.0%} of the pull",
        f"{top.role} ({digest}{human_bytes(top.bytes)}) took {human_ms(waited)} of the pull's "
        f"{human_ms(span)} from its first request to its last byte{speed}; "
        f"{top.host}{pop} {_cache_text(top)}, so it fetched the blob from its origin before sending it.",
        "Nothing is broken: the next pull of this layer through the same edge should be a HIT and faster. If "
        "every pull misses, the blob is too rarely pulled for that edge to keep, or a header in the request "
        "(a Range, a cookie) makes it uncacheable.",
        [s for s in (top.redirect, top.step) if s is not None],
    )]


class _Opened(NamedTuple):
    """The connection a step opened: its TCP and TLS setup, and how much of it came before the request."""

    step: Step
    tcp_ms: float
    tls_ms: float
    early_ms: float

    @property
    def setup_ms(self) -> float:
        return self.tcp_ms + self.tls_ms


def _opened(step: Step) -> _Opened:
    split = time_split(step.exchange)
    early_tcp, early_tls = split.early_connect_ms or 0.0, split.early_tls_ms or 0.0
    return _Opened(step, (split.connect_ms or 0.0) + early_tcp, (split.tls_ms or 0.0) + early_tls,
                   early_tcp + early_tls)


def slow_connect(session: Session, **_: object) -> list[Finding]:
    """Connections to one host that took a second or more each to open, when that setup is a real
    share of the pull (setup done before a request counts on top of the requests' span)."""
    opened = [_opened(step) for step in session.steps]
    slow: dict[str, list[_Opened]] = {}
    for o in opened:
        if o.setup_ms >= SLOW_SETUP_MS:
            slow.setdefault(host_port(o.step.exchange.url) or "the server", []).append(o)
    pull_ms = session_span_ms(session) + sum(o.early_ms for o in opened)
    out = []
    for host, slow_ones in slow.items():
        lost = sum(o.setup_ms for o in slow_ones)
        if pull_ms <= 0 or lost < MIN_LOST_SHARE * pull_ms:
            continue
        slowest = max(slow_ones, key=lambda o: o.setup_ms)
        tcp, tls = slowest.tcp_ms, slowest.tls_ms
        many = f" ({len(slow_ones)} connections, the slowest)" if len(slow_ones) > 1 else ""
        before = any(o.early_ms > 0 for o in slow_ones)
        where = (" before the request it carried: the proxy opened it when the client's CONNECT arrived, so no "
                 "step's duration shows it" if before else "")
        if tcp >= tls:
            why = (f"TCP connect took {human_ms(tcp)} of it (TLS {human_ms(tls)}). A handshake of about 1 s or 3 s is "
                   "a lost SYN the kernel sent again (its first retry waits 1 s); longer, a route or firewall that "
                   "drops packets, or an address (often IPv6) that never answers before another is tried")
            fix = (f"Time the connection from the machine that pulls: `curl -so /dev/null -w '%{{time_namelookup}} "
                   f"%{{time_connect}} %{{time_appconnect}}\n' https://{host}/v2/` (name lookup, TCP, TLS, in "
                   "seconds); if TCP stays slow, check the route and firewalls to that host, and whether it "
                   "resolves to an address that does not answer (`getent ahosts " + host + "`).")
        else:
            why = (f"the TLS handshake took {human_ms(tls)} of it (TCP {human_ms(tcp)}): the server, or something "
                   "between it and the proxy that inspects TLS, was slow to answer")
            fix = (f"Time the handshake from the machine that pulls: `curl -so /dev/null -w '%{{time_connect}} "
                   f"%{{time_appconnect}}\n' https://{host}/v2/`; a slow TLS answer from {host} itself is for "
                   "its operator, one that only happens through a middlebox is the middlebox's.")
        out.append(finding(
            "speed.slow-connect",
            Severity.WARNING,
            f"Opening a connection to {host} took {human_ms(tcp + tls)}{many}",
            f"The connection to {host} took {human_ms(tcp + tls)} to open{where}; {why}. Opening connections to "
            f"{host} cost {human_ms(lost)} of the pull's {human_ms(pull_ms)}.",
            fix,
            [o.step for o in slow_ones],
        ))
    return out


RULES = (slow_layer, costly_miss, slow_connect)
