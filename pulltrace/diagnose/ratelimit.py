"""Rate-limit rules: 429 TOOMANYREQUESTS, and the quota headers Docker Hub sends on manifests.

Docker Hub writes `RateLimit-Limit: 100;w=21600` and `RateLimit-Remaining: 76;w=21600`
(pulls per window of w seconds) and `Docker-RateLimit-Source` (the IP or account counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pulltrace.diagnose.base import describe, finding, recovered
from pulltrace.diagnose.facts import error_codes, host_of
from pulltrace.model import Exchange, Finding, Session, Severity, Step

_QUOTA = re.compile(r"^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?")


@dataclass(frozen=True)
class Quota:
    limit: int | None
    remaining: int | None
    window_s: int | None
    source: str | None
    retry_after: str | None
    reset: str | None

    def text(self) -> str:
        parts = []
        if self.remaining is not None and self.limit is not None:
            parts.append(f"{self.remaining} of {self.limit} pulls left")
        elif self.limit is not None:
            parts.append(f"a limit of {self.limit} pulls")
        elif self.remaining is not None:
            parts.append(f"{self.remaining} pulls left")
        if self.window_s:
            parts.append(f"per {_duration(self.window_s)}")
        if self.source:
            parts.append(f"counted for {self.source}")
        return " ".join(parts)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _parse(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    m = _QUOTA.match(value)
    if not m:
        return None, None
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def quota(exchange: Exchange) -> Quota | None:
    """The rate-limit headers of a response, or None when it has none."""
    limit, window = _parse(exchange.response_header("ratelimit-limit") or exchange.response_header("x-ratelimit-limit"))
    remaining, window2 = _parse(
        exchange.response_header("ratelimit-remaining") or exchange.response_header("x-ratelimit-remaining")
    )
    retry_after = exchange.response_header("retry-after")
    reset = exchange.response_header("ratelimit-reset") or exchange.response_header("x-ratelimit-reset")
    if limit is None and remaining is None and retry_after is None:
        return None
    return Quota(limit, remaining, window or window2, exchange.response_header("docker-ratelimit-source"),
                 retry_after, reset)


def _limited(step: Step) -> bool:
    return step.exchange.status == 429 or "TOOMANYREQUESTS" in error_codes(step.exchange)


def exceeded(session: Session, **_: object) -> list[Finding]:
    hit = [s for s in session.steps if _limited(s)]
    if not hit:
        return []
    first = hit[0]
    host = host_of(first.exchange.url)
    q = quota(first.exchange)
    wait = ""
    if q and q.retry_after:
        wait = f" The server asks to wait {q.retry_after} s (Retry-After)."
    elif q and q.reset:
        wait = f" The quota resets at {q.reset}."
    came_back = all(recovered(session, s) for s in hit)
    return [finding(
        "ratelimit.exceeded",
        Severity.WARNING if came_back else Severity.ERROR,
        f"{host} refused the pull: rate limit reached",
        f"{describe(first)} answered 429 Too Many Requests (TOOMANYREQUESTS)"
        + (f"; quota: {q.text()}" if q and q.text() else "")
        + "." + wait
        + (" The client retried and got through." if came_back else ""),
        f"Wait for the window to pass, or log in (`docker login {host}`): authenticated and paid accounts get "
        "higher limits, counted per account instead of per IP. For CI, pull through a mirror or pull-through cache "
        "so each image is fetched once.",
        hit,
    )]


def headers(session: Session, **_: object) -> list[Finding]:
    """Report the quota whenever the registry states one; warn when it is nearly used up."""
    counted = []
    for s in session.steps:
        stated = quota(s.exchange)
        if stated is not None and (stated.limit is not None or stated.remaining is not None):
            counted.append((s, stated))
    if not counted or any(_limited(s) for s in session.steps):
        return []
    step, q = counted[-1]
    low = q.remaining is not None and (q.remaining == 0 or (q.limit and q.remaining <= max(1, q.limit // 10)))
    host = host_of(step.exchange.url)
    return [finding(
        "ratelimit.quota",
        Severity.WARNING if low else Severity.INFO,
        f"{host} rate limit: {q.text()}",
        f"{describe(step)} carried RateLimit-Limit {step.exchange.response_header('ratelimit-limit') or '?'} and "
        f"RateLimit-Remaining {step.exchange.response_header('ratelimit-remaining') or '?'}: {q.text()}. Each manifest "
        "GET counts as one pull; HEAD requests do not on Docker Hub."
        + (" The next pulls will be refused with 429." if q.remaining == 0 else ""),
        ("Log in for a higher limit, or pull through a mirror/cache; HEAD-check before GET to avoid spending pulls."
         if low else "Nothing to do now; watch this number in CI."),
        [step],
    )]


RULES = (exceeded, headers)
