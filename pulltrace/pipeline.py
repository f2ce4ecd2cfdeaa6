"""Exchanges -> Trace: classify, group into sessions, diagnose. Every source ends here.

The addon, the importers and the pull client all hand their exchanges to
`build_trace`, so a trace looks the same whichever way its traffic was obtained.
Exchanges arrive with secrets already masked (or not, when the user asked to see them).
"""

from __future__ import annotations

from typing import Iterable

from pulltrace import __version__
from pulltrace.classify import classify
from pulltrace.diagnose import diagnose_trace
from pulltrace.model import Exchange, Trace
from pulltrace.sessions import group_sessions


def build_trace(exchanges: Iterable[Exchange], source: str, *, wanted_platform: str | None = None) -> Trace:
    """Classify `exchanges`, group them into sessions and attach every finding.

    This is the one place a trace is diagnosed: every rule runs once, the cross-session
    ones included, so `report`, `show` and `doctor` say the same about the same traffic.
    `wanted_platform` is the platform the client asked for, when the caller knows it.
    """
    exchanges = list(exchanges)
    steps = classify(exchanges)
    sessions = group_sessions(steps)
    ends = [e.started_at + (e.duration_ms or 0.0) / 1000.0 for e in exchanges]
    trace = Trace(
        sessions=sessions,
        source=source,
        # The time of the last exchange, not of this call: the same traffic gives the
        # same trace, whenever it is rebuilt.
        created_at=round(max(ends), 3) if ends else 0.0,
        tool_version=__version__,
    )
    # The rules include pulltrace's own promise for every capture: a blob whose bytes do
    # not hash to its digest (`blob.digest-mismatch`).
    return diagnose_trace(trace, wanted_platform=wanted_platform)
