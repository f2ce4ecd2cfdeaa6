"""Speed rules: why a pull was slow, when one layer explains it.

A layer far slower than its peers points at the host or path that served it (a slow CDN
edge, a rate-limited mirror); a cache miss on the layer that took most of the pull says the
edge fetched it from the origin first (moby#19916, docker/hub-feedback#1675, containerd#9846).
Both need real sizes: a blob of a few KiB is all handshake, and its "throughput" says nothing.
"""

from __future__ import annotations

from statistics import median

from pulltrace.diagnose.base import finding
from pulltrace.model import Finding, Session, Severity
from pulltrace.timing import HIT, MISS, BlobDelivery, blob_deliveries, session_span_ms

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


RULES = (slow_layer, costly_miss)
