"""PROVISIONAL incremental engine: the interface of notes/ENGINE-API.md, built on build_trace.

This file stands in for the real engine (linear, causal grouping) until it lands; the
real `pulltrace/engine.py` replaces it whole. It keeps only the exchanges of pulls
still open and re-runs classification and grouping over them when asked to close pulls
(only when something arrived, or a pull may have gone quiet), then diagnoses the pulls
it closes, as `build_trace` does; what it holds stays bounded by the pulls in flight,
not by the capture. Its `feed` classifies an exchange on its own (no context), which is
all the addon needs from it for now.
"""

from __future__ import annotations

from pulltrace import __version__
from pulltrace.classify import classify
from pulltrace.diagnose import diagnose_trace
from pulltrace.model import Exchange, Session, Step, Trace
from pulltrace.sessions import group_sessions, is_complete


def _end(session: Session) -> float:
    return max(s.exchange.started_at + (s.exchange.duration_ms or 0.0) / 1000.0 for s in session.steps)


class Engine:
    """Exchanges in completion order -> closed pull sessions, handed out once each."""

    def __init__(self, *, idle_s: float = 30.0, wanted_platform: str | None = None) -> None:
        self.idle_s = idle_s
        self.wanted_platform = wanted_platform
        self._open: list[Exchange] = []
        self._closed = 0
        self._still_open = 0
        self._changed = False
        # Earliest time a pull still open could have been quiet for idle_s.
        self._next_quiet = float("inf")

    def feed(self, exchange: Exchange) -> Step:
        """Remember `exchange` until its pull closes; its step as far as it alone tells."""
        self._open.append(exchange)
        self._changed = True
        return classify([exchange])[0]

    def close_idle(self, now: float) -> list[Session]:
        """Pulls whose blobs all arrived, or quiet for idle_s seconds before `now`, closed."""
        if not self._open or (not self._changed and now < self._next_quiet):
            return []
        self._changed = False
        sessions = [s for s in group_sessions(classify(self._open)) if s.steps]
        done = [s for s in sessions if is_complete(s) or now - _end(s) >= self.idle_s]
        rest = [s for s in sessions if not any(s is d for d in done)]
        self._still_open = len(rest)
        self._next_quiet = min((_end(s) + self.idle_s for s in rest), default=float("inf"))
        if not done:
            return []
        gone = {step.id for s in done for step in s.steps}
        self._open = [ex for ex in self._open if ex.id not in gone]
        return self._close(done)

    def finish(self) -> list[Session]:
        """Every pull still open, closed."""
        if not self._open:
            return []
        sessions = [s for s in group_sessions(classify(self._open)) if s.steps]
        self._open, self._still_open, self._next_quiet = [], 0, float("inf")
        return self._close(sessions)

    @property
    def open_sessions(self) -> int:
        """Pulls open at the last close_idle (this stand-in groups only then)."""
        return self._still_open

    def _close(self, sessions: list[Session]) -> list[Session]:
        """Findings for the pulls that close (cross-session rules among them), then their numbers."""
        diagnose_trace(Trace(sessions=sessions, source="mitmproxy", tool_version=__version__),
                       wanted_platform=self.wanted_platform)
        for session in sorted(sessions, key=lambda s: s.steps[0].exchange.started_at):
            self._closed += 1
            session.id = f"s{self._closed}"
        return sorted(sessions, key=lambda s: int(s.id[1:]))
