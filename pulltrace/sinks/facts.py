"""Facts about one finished pull that every fleet-scale view reads the same way.

Pure functions over the model: the metrics, the OTLP export and the fleet report all call
them, so a pull counted as failed in Prometheus is the one the fleet report lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pulltrace.manifest import ManifestError, parse_manifest
from pulltrace.model import Exchange, Session, Severity, Step, StepKind

OK = "ok"
FAILED = "failed"

# Status classes counted apart: each means something different to a pull (auth refused,
# scope refused, not found, rate limited, server broken); the rest by hundreds.
_DISTINCT = frozenset({401, 403, 404, 429})
_MANIFEST_KINDS = frozenset({StepKind.MANIFEST, StepKind.MANIFEST_INDEX, StepKind.MANIFEST_HEAD})
BLOB_KINDS = frozenset({StepKind.LAYER_BLOB, StepKind.CONFIG_BLOB, StepKind.CDN_DOWNLOAD})

# The token spec (distribution's docs/spec/auth/token.md): without expires_in a token
# lives 60 seconds.
DEFAULT_TOKEN_LIFETIME_S = 60.0

# `RateLimit-Remaining: 76;w=21600` (Docker Hub, after draft-polli-ratelimit-headers-00)
# or a bare `76`: a count, then optional parameters of which `w` is the window in seconds.
_RATE_RE = re.compile(r"^\s*(\d+)\s*(?:;(.*))?$")


def is_pull(session: Session) -> bool:
    return session.action == "pull"


def pull_result(session: Session) -> str:
    """`failed` when a rule found an error, or no manifest (nor HEAD of one) was answered 2xx."""
    if any(f.severity is Severity.ERROR for f in session.findings):
        return FAILED
    for step in session.steps:
        status = step.exchange.status
        if step.kind in _MANIFEST_KINDS and status is not None and 200 <= status < 300:
            return OK
    return FAILED


def serving_host(ex: Exchange) -> str:
    """host[:port] the response came from (the CDN for a redirected blob), without userinfo."""
    try:
        netloc = urlsplit(ex.url).netloc
    except ValueError:
        return ""
    return netloc.rpartition("@")[2].lower()


def host_and_port(ex: Exchange) -> tuple[str, int | None]:
    try:
        parts = urlsplit(ex.url)
        port = parts.port
    except ValueError:
        return serving_host(ex), None
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
    return (parts.hostname or ""), port


def status_class(status: int | None) -> str:
    """`401`, `403`, `404`, `429` apart; others as `2xx`, `3xx`, `4xx`, `5xx`; `none` without a response."""
    if status is None:
        return "none"
    if status in _DISTINCT:
        return str(status)
    return f"{status // 100}xx"


def started(ex: Exchange) -> float:
    return float(ex.started_at)


def ended(ex: Exchange) -> float:
    return float(ex.started_at) + float(ex.duration_ms or 0.0) / 1000.0


def session_bounds(session: Session) -> tuple[float, float]:
    """When the pull's first request started and its last response ended (Unix seconds)."""
    if not session.steps:
        return 0.0, 0.0
    return (min(started(s.exchange) for s in session.steps), max(ended(s.exchange) for s in session.steps))


@dataclass(frozen=True)
class RateLimit:
    """One `RateLimit-*` reading of a registry: what is left, of how much, per how long."""

    host: str
    remaining: int
    limit: int | None = None
    window_s: int | None = None
    at: float = 0.0


def parse_rate(value: str | None) -> tuple[int, int | None] | None:
    """`76;w=21600` -> (76, 21600); `76` -> (76, None); anything else None."""
    if not value:
        return None
    m = _RATE_RE.match(value)
    if m is None:
        return None
    window = None
    for param in (m.group(2) or "").split(";"):
        name, _, val = param.strip().partition("=")
        if name.lower() == "w" and val.strip().isdigit():
            window = int(val.strip())
    return int(m.group(1)), window


def rate_limits(session: Session) -> list[RateLimit]:
    """The last rate-limit reading each host sent during the pull."""
    latest: dict[str, RateLimit] = {}
    for step in session.steps:
        ex = step.exchange
        remaining = parse_rate(ex.response_header("ratelimit-remaining"))
        if remaining is None:
            continue
        limit = parse_rate(ex.response_header("ratelimit-limit"))
        host = serving_host(ex)
        reading = RateLimit(host, remaining[0], limit[0] if limit else None,
                            remaining[1] if remaining[1] is not None else (limit[1] if limit else None),
                            started(ex))
        if host not in latest or latest[host].at <= reading.at:
            latest[host] = reading
    return list(latest.values())


def token_lifetime(step: Step) -> float | None:
    """Seconds the token this step was issued lives: expires_in, else exp - iat of its claims,
    else the spec's 60; None when the step issued no token."""
    if step.kind not in (StepKind.TOKEN, StepKind.LOGIN):
        return None
    ex = step.exchange
    if ex.status is None or not 200 <= ex.status < 300:
        return None
    body = ex.response_json()
    if body is None or not (body.get("token") or body.get("access_token")):
        return None
    expires = body.get("expires_in")
    if isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0:
        return float(expires)
    claims = ex.token_claims or {}
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, int | float) and isinstance(iat, int | float) and exp > iat:
        return float(exp - iat)
    return DEFAULT_TOKEN_LIFETIME_S


def layer_positions(session: Session) -> dict[str, int]:
    """digest -> its index in the image manifest's layers (0 = base layer), from the manifest seen."""
    positions: dict[str, int] = {}
    for step in session.steps:
        ex = step.exchange
        if step.kind is not StepKind.MANIFEST or not ex.response_body_preview:
            continue
        try:
            parsed = parse_manifest(ex.response_body_preview, ex.content_type)
        except ManifestError:
            continue
        if parsed.is_index:
            continue
        for i, layer in enumerate(parsed.layers):
            positions.setdefault(layer.digest, i)
    return positions


def step_digest(step: Step) -> str | None:
    if step.facts.digest is not None:
        return step.facts.digest
    if step.reference and step.reference.startswith("sha256:"):
        return step.reference
    return None
