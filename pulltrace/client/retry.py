"""Bounded retries with backoff, for what a registry or CDN may do transiently.

Retried: 5xx that mean "try later" (500, 502, 503, 504), 429 after its Retry-After, and
connections that fail, reset or time out. Never retried: TLS failures, 4xx, digest mismatches.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    # A host that refuses or cannot be resolved rarely comes back within seconds: fewer tries.
    connect_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited for: the pull fails with the 429.
    max_retry_after: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt + 1` (attempt counts from 1)."""
        return min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)


NO_RETRY = RetryPolicy(attempts=1)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class Sleeper:
    """Waits that a Ctrl-C or a failed sibling download can cut short."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()

    def __call__(self, seconds: float) -> bool:
        """Sleep; False when stopped meanwhile."""
        return not self.stop.wait(seconds)
