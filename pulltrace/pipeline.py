"""Exchanges -> Trace: classify, group into sessions, diagnose. Every source ends here.

The addon, the importers and the pull client all hand their exchanges to
`build_trace`, so a trace looks the same whichever way its traffic was obtained.
Exchanges arrive with secrets already masked (or not, when the user asked to see them).
"""

from __future__ import annotations

from typing import Iterable

from pulltrace import __version__
from pulltrace.classify import classify
from pulltrace.diagnose import diagnose
from pulltrace.model import Exchange, Trace
from pulltrace.sessions import group_sessions


def build_trace(exchanges: Iterable[Exchange], source: str) -> Trace:
    """Classify `exchanges`, group them into sessions and attach findings."""
    exchanges = list(exchanges)
    steps = classify(exchanges)
    sessions = group_sessions(steps)
    for session in sessions:
        # The diagnosis rules include pulltrace's own promise for every capture: a blob
        # whose bytes do not hash to its digest (`blob.digest-mismatch`).
        session.findings = diagnose(session)
    ends = [e.started_at + (e.duration_ms or 0.0) / 1000.0 for e in exchanges]
    return Trace(
        sessions=sessions,
        source=source,
        # The time of the last exchange, not of this call: the same traffic gives the
        # same trace, whenever it is rebuilt.
        created_at=round(max(ends), 3) if ends else 0.0,
        tool_version=__version__,
    )
