"""Exchanges -> Trace: the engine fed in order, then what only shows across sessions.

The addon, the importers and the pull client all hand their exchanges to
`build_trace`, so a trace looks the same whichever way its traffic was obtained.
Exchanges arrive with secrets already masked (or not, when the user asked to see them).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pulltrace import __version__
from pulltrace.diagnose import diagnose_across
from pulltrace.engine import Engine
from pulltrace.model import Exchange, Session, Trace
from pulltrace.sessions import number_sessions


def build_trace(exchanges: Iterable[Exchange], source: str, *, wanted_platform: str | None = None) -> Trace:
    """Classify `exchanges`, group them into sessions and attach every finding.

    This is the one place a trace is diagnosed: each pull's rules run once when the engine
    closes it, the cross-session ones here, so `report`, `show` and `doctor` say the same
    about the same traffic. `wanted_platform` is the platform the client asked for, when the
    caller knows it.
    """
    engine = Engine(wanted_platform=wanted_platform)
    sessions: list[Session] = []
    end = None
    with _cyclic_gc_paused():
        for ex in sorted(exchanges, key=lambda e: e.started_at):
            sessions.extend(engine.close_idle(ex.started_at))
            engine.feed(ex)
            ex_end = ex.started_at + (ex.duration_ms or 0.0) / 1000.0
            end = ex_end if end is None else max(end, ex_end)
        sessions.extend(engine.finish())
    trace = Trace(
        sessions=number_sessions(sessions),
        source=source,
        # The time of the last exchange, not of this call: the same traffic gives the
        # same trace, whenever it is rebuilt.
        created_at=round(end, 3) if end is not None else 0.0,
        tool_version=__version__,
    )
    # The rules include pulltrace's own promise for every capture: a blob whose bytes do
    # not hash to its digest (`blob.digest-mismatch`).
    return diagnose_across(trace)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a file is read: the trace being built is a growing
    heap of acyclic objects (freed by reference counting), and every full collection walks all
    of it, which made 10x the exchanges cost 14x the time (bench/pipeline.py). Restored after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

