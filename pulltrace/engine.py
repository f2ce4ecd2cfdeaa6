"""The incremental engine: exchanges in, finished pulls out, in amortised constant time each.

Every source feeds it: the mitmproxy addon as flows complete, `build_trace` with a file's
exchanges in order. Each exchange is classified and attached to its pull once, on arrival
(`pulltrace.classify.Classifier`, `pulltrace.sessions.Grouper`, both keyed by indexes);
a pull that completes or goes quiet is summarised, diagnosed, handed out once and
forgotten, so memory follows the pulls in flight, not the length of the capture.
"""

from __future__ import annotations

import dataclasses
import logging

from pulltrace.classify import Classifier
from pulltrace.diagnose import diagnose
from pulltrace.model import Exchange, Session, Step, StepKind
from pulltrace.sessions import COMPLETE_GRACE_S, IDLE_GAP_S, Grouper, Pull
from pulltrace.timing import DELIVERIES_CACHE

log = logging.getLogger(__name__)

# An Exchange's __dict__ holds its fields, and beyond them only what readers cached on it.
_EXCHANGE_FIELDS = len(dataclasses.fields(Exchange))


class Engine:
    """Classify, group and diagnose one exchange at a time (see ENGINE-API in the notes)."""

    def __init__(self, *, idle_s: float = IDLE_GAP_S, wanted_platform: str | None = None) -> None:
        self.wanted_platform = wanted_platform
        self._classifier = Classifier()
        self._grouper = Grouper(idle_s=idle_s)

    @property
    def idle_s(self) -> float:
        """Seconds of quiet after which an open pull is closed (the addon's `pulltrace_idle`)."""
        return self._grouper.idle_s

    @idle_s.setter
    def idle_s(self, value: float) -> None:
        self._grouper.idle_s = value
        self._grouper.grace_s = min(COMPLETE_GRACE_S, value)

    def feed(self, exchange: Exchange) -> Step:
        """Classify one exchange and attach it to its pull; exchanges arrive in the order they
        completed (or, from a file, started). Returns the step with its kind and links."""
        try:
            step = self._classifier.add(exchange)
        except Exception as e:  # noqa: BLE001 - one hostile exchange must not lose the rest of a capture
            log.warning("pulltrace could not classify exchange %s (%s: %s); kept as a step of its own",
                        exchange.id, type(e).__name__, e)
            step = Step(exchange=exchange, kind=StepKind.OTHER,
                        error=f"pulltrace could not read this exchange ({type(e).__name__}: {e})"[:300])
        self._grouper.add(step)
        return step

    def session_of(self, step_id: str) -> str | None:
        """The id of the open session a step belongs to so far (None while it waits)."""
        pull = self._grouper.of_step.get(step_id)
        return pull.session.id if pull is not None else None

    def close_idle(self, now: float) -> list[Session]:
        """Pulls complete, or quiet for `idle_s` seconds at exchange time `now`: closed,
        summarised and diagnosed, handed out once, then dropped from memory."""
        return self._finished(self._grouper.due(now))

    def finish(self) -> list[Session]:
        """Every pull still open, closed as above (the end of a capture or a file)."""
        self._classifier.flush_retries()
        return self._finished(self._grouper.close_all())

    @property
    def open_sessions(self) -> int:
        return self._grouper.open_count

    @property
    def held_steps(self) -> int:
        """Steps the engine still holds (open pulls, steps waiting for one, index entries)."""
        return len(self._grouper.of_step) + self._grouper.waiting_steps + self._classifier.indexed_steps

    def _finished(self, pulls: list[Pull]) -> list[Session]:
        out = []
        for pull in pulls:
            session = pull.session
            self._classifier.forget(session.steps)
            session.findings = diagnose(session, wanted_platform=self.wanted_platform)
            for step in session.steps:
                ex = step.exchange
                if len(ex.__dict__) > _EXCHANGE_FIELDS:  # only an exchange something parsed holds caches
                    ex.drop_caches()
            for key in ("_hops", "_registry_steps", DELIVERIES_CACHE):
                session.__dict__.pop(key, None)
            out.append(session)
        return out
