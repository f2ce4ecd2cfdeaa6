"""Why a pull was slow, as facts read off the model: each step's time split and throughput,
and for each blob the host that served it and what that host's cache said.

Users ask which host or cache served a layer and why one took so long (moby#19916,
docker/hub-feedback#1675, containerd#9846); the answers are in what the wire already
recorded: the HAR-style phases of `Exchange.timings` and the CDN's cache headers. Reads
only the model, so the doctor (`diagnose/speed.py`) and every view share one reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pulltrace.model import Exchange, Session, Step, StepKind
from pulltrace.v2path import netloc

# Response headers a CDN or cache uses to say where and how it answered: Cloudflare
# (Docker Hub's production.cloudflare.docker.com), CloudFront (quay.io's cdn02, ECR),
# Fastly and Varnish (X-Served-By, X-Cache), and any HTTP cache (Age, Via; RFC 9111).
CACHE_HEADERS = ("cf-cache-status", "cf-ray", "x-cache", "x-amz-cf-pop", "age", "via", "x-served-by")

# Cloudflare's cf-cache-status values: HIT, STALE, UPDATING and REVALIDATED are answered
# from the edge's copy; MISS and EXPIRED went to the origin; BYPASS and DYNAMIC never cache.
_HIT_WORDS = frozenset({"hit", "stale", "updating", "revalidated", "refresh_hit", "tcp_hit", "tcp_mem_hit"})
_MISS_WORDS = frozenset({"miss", "expired", "refresh_miss", "tcp_miss"})
_BYPASS_WORDS = frozenset({"bypass", "dynamic", "pass", "none", "uncacheable"})
_WORD = re.compile(r"[a-z_]+")

HIT = "hit"
MISS = "miss"
BYPASS = "bypass"


@dataclass(frozen=True)
class TimeSplit:
    """Where one exchange's time went, in milliseconds; None where the source did not record
    the phase (a HAR without timings, a log). `transfer_ms` is the body's download (HAR receive).
    The four phases add up to at most `total_ms`; `early_*` is the connection's setup done before
    the request started, which is no part of its time and so not of the split."""

    connect_ms: float | None
    tls_ms: float | None
    wait_ms: float | None
    transfer_ms: float | None
    total_ms: float | None
    early_connect_ms: float | None = None
    early_tls_ms: float | None = None

    @property
    def recorded(self) -> bool:
        return any(x is not None for x in (self.connect_ms, self.tls_ms, self.wait_ms, self.transfer_ms))

    @property
    def early(self) -> bool:
        """Whether the connection was set up (in part) before the request started."""
        return self.early_connect_ms is not None or self.early_tls_ms is not None


# Each phase is rounded to a microsecond where it is recorded; a sum may exceed the total by that.
_ROUNDING_MS = 0.01


def time_split(ex: Exchange) -> TimeSplit:
    """The exchange's phases; connect and TLS only count when a new connection was opened
    (HAR writes -1 or leaves them out for a reused one) and only the part inside the request.
    A trace recorded before pulltrace kept the two apart (or a HAR that counts a connection
    opened at CONNECT time) may carry setup longer than the request itself: setup that cannot
    fit in the request's time was done before it, and is shown so, not counted."""
    t = ex.timings

    def phase(ms: float | None) -> float | None:
        return ms if ms is not None and ms >= 0 else None

    connect, tls, wait, transfer = phase(t.connect_ms), phase(t.tls_ms), phase(t.wait_ms), phase(t.receive_ms)
    early_connect, early_tls = phase(t.early_connect_ms), phase(t.early_tls_ms)
    total = phase(ex.duration_ms)
    parts = sum(x for x in (connect, tls, wait, transfer) if x is not None)
    if total is not None and (connect or tls) and parts > total + _ROUNDING_MS:
        early_connect = _add(early_connect, connect)
        early_tls = _add(early_tls, tls)
        connect = tls = None
    return TimeSplit(connect, tls, wait, transfer, total, early_connect, early_tls)


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else round(a + b, 3)


def throughput(ex: Exchange) -> float | None:
    """Bytes per second of the body's transfer; the whole exchange's duration when the source
    recorded no phases. None without a size, a time, or when no body came back."""
    split = time_split(ex)
    ms = split.transfer_ms if split.transfer_ms is not None else (None if split.recorded else split.total_ms)
    if not ex.response_bytes or not ms or ms <= 0:
        return None
    return ex.response_bytes / (ms / 1000.0)


@dataclass(frozen=True)
class CacheInfo:
    """What a response's cache headers said: a verdict (`hit`, `miss`, `bypass`, or "" when no
    header says) and the headers themselves, as sent."""

    verdict: str
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def pop(self) -> str:
        """The edge that answered: CloudFront's POP, else the colo in Cloudflare's Ray id
        (`5c59fe3f5d61258d-HKG`), else Fastly's last X-Served-By node."""
        pop = self.header("x-amz-cf-pop")
        if pop:
            return pop
        ray = self.header("cf-ray")
        if ray and "-" in ray:
            return ray.rsplit("-", 1)[1]
        served = self.header("x-served-by")
        return served.split(",")[-1].strip() if served else ""


def cache_info(ex: Exchange) -> CacheInfo:
    """The cache verdict of one response. Cloudflare's Cf-Cache-Status wins; else X-Cache, whose
    last entry is the edge nearest the client (Fastly lists shield then edge: `MISS, HIT`;
    CloudFront says `Miss from cloudfront`); else a positive Age means a cache's stored copy."""
    found = tuple((name, value) for name in CACHE_HEADERS if (value := ex.response_header(name)) is not None)
    info = dict(found)
    verdict = ""
    for name in ("cf-cache-status", "x-cache"):
        value = info.get(name)
        if value:
            verdict = _verdict(value.split(",")[-1])
            if verdict:
                break
    if not verdict:
        age = (info.get("age") or "").strip()
        if age.isdigit() and int(age) > 0:
            verdict = HIT
    return CacheInfo(verdict, found)


def _verdict(text: str) -> str:
    words = _WORD.findall(text.lower())
    for word in words:
        if word in _HIT_WORDS:
            return HIT
        if word in _MISS_WORDS:
            return MISS
        if word in _BYPASS_WORDS:
            return BYPASS
    return ""


_LAYER_ROLE = re.compile(r"^layer (\d+)/(\d+)$")


@dataclass(frozen=True)
class BlobDelivery:
    """One blob's body as it arrived: the step that carried it (the CDN download after a redirect,
    else the registry's own 200), the host that served it, its cache, size, time and throughput.
    `time_ms` counts the redirect too: a client waits for both before the first byte."""

    step: Step
    role: str
    digest: str | None
    host: str
    redirected_from: str | None
    cache: CacheInfo
    bytes: int | None
    time_ms: float | None
    split: TimeSplit
    throughput: float | None
    redirect: Step | None = field(default=None, compare=False)

    @property
    def is_layer(self) -> bool:
        return self.role != "config"


def _carries_blob(step: Step) -> bool:
    status = step.exchange.status
    ok = status is not None and 200 <= status < 300 and step.exchange.method == "GET"
    return ok and step.kind in (StepKind.LAYER_BLOB, StepKind.CONFIG_BLOB, StepKind.CDN_DOWNLOAD)


def blob_deliveries(session: Session) -> list[BlobDelivery]:
    """Every blob body the session downloaded, in step order. One pass over the steps plus a
    lookup by id, so a long pull costs no more per blob than a short one. Built once per
    session's list of steps: the speed rules and the speed view each ask for it."""
    cached = session.__dict__.get(DELIVERIES_CACHE)
    if cached is not None and cached[0] is session.steps and cached[1] == len(session.steps):
        return list(cached[2])
    found = _deliveries(session)
    session.__dict__[DELIVERIES_CACHE] = (session.steps, len(session.steps), found)
    return list(found)


# Where blob_deliveries keeps its answer on a Session (never a field, so never serialised;
# a copy of the session has another list of steps, so it never reads its original's).
DELIVERIES_CACHE = "_blob_deliveries"


def _deliveries(session: Session) -> list[BlobDelivery]:
    by_id = {s.id: s for s in session.steps}
    out = []
    for step in session.steps:
        if not _carries_blob(step):
            continue
        ex = step.exchange
        redirect = next((by_id[t] for t in step.linked("follows") if t in by_id), None)
        time_ms = ex.duration_ms
        if redirect is not None and redirect.exchange.duration_ms is not None and time_ms is not None:
            time_ms += redirect.exchange.duration_ms
        role = step.role or ("config" if step.kind is StepKind.CONFIG_BLOB else "layer")
        out.append(BlobDelivery(
            step=step, role=role, digest=step.reference or ex.body_sha256, host=netloc(ex.url),
            redirected_from=netloc(redirect.exchange.url) if redirect is not None else None,
            cache=cache_info(ex), bytes=ex.response_bytes, time_ms=time_ms, split=time_split(ex),
            throughput=throughput(ex), redirect=redirect,
        ))
    return out


def session_span_ms(session: Session) -> float:
    """The pull's wall time: the summary's, else first request to last answer."""
    if session.summary.duration_ms > 0:
        return session.summary.duration_ms
    if not session.steps:
        return 0.0
    start = min(s.exchange.started_at for s in session.steps)
    end = max(s.exchange.started_at + (s.exchange.duration_ms or 0.0) / 1000.0 for s in session.steps)
    return max(0.0, (end - start) * 1000.0)


def layer_number(role: str) -> tuple[int, int] | None:
    """(2, 3) for `layer 2/3`."""
    m = _LAYER_ROLE.match(role)
    return (int(m.group(1)), int(m.group(2))) if m else None
