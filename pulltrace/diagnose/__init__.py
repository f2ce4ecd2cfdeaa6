"""The doctor: rules that read a pull session and say what went wrong, where, and what to do.

`diagnose(session)` runs every rule family (auth, manifests, blobs, transport, rate
limits, mirrors, speed) and returns their findings, errors first, then in step order. Rules
read only the model, so a captured pull and one made by pulltrace's own client are
diagnosed alike. A rule that trips over an odd trace is skipped and logged: the
live addon calls this on every pull and must never break it.
"""

from __future__ import annotations

import logging

from pulltrace.diagnose import auth, blobs, manifests, mirror, ratelimit, speed, transport
from pulltrace.diagnose.base import Rule, order_findings, unexplained_failure
from pulltrace.model import Finding, Session, Severity, Trace

log = logging.getLogger(__name__)

# Families in the order their findings win ties on the same step: the most specific first.
RULES: tuple[Rule, ...] = (
    *transport.RULES,
    *auth.RULES,
    *manifests.RULES,
    *blobs.RULES,
    *mirror.RULES,
    *ratelimit.RULES,
    *speed.RULES,
)


def diagnose(session: Session, *, wanted_platform: str | None = None) -> list[Finding]:
    """Every finding about one pull session, errors first, then by the step they concern.

    `wanted_platform` (`linux/arm64`) is the platform the client asked for, when the caller
    knows it (the wire does not say); it lets the platform rule name what was missing.
    """
    findings: list[Finding] = []
    for rule in RULES:
        try:
            findings.extend(rule(session, wanted_platform=wanted_platform))
        except Exception:  # noqa: BLE001 - one odd trace must not silence the other rules
            log.exception("diagnosis rule %s failed on session %s", getattr(rule, "__name__", rule), session.id)
    if not any(f.severity == Severity.ERROR for f in findings):
        fallback = unexplained_failure(session)
        if fallback:
            findings.append(fallback)
    return order_findings(session, findings)


def diagnose_across(trace: Trace) -> Trace:
    """What only shows across sessions already diagnosed one by one (a failed mirror grouped
    apart from the upstream pull it fell back to), in place."""
    mirror.fallback_across_sessions(trace.sessions)
    for session in trace.sessions:
        session.findings = order_findings(session, session.findings)
    return trace


def diagnose_trace(trace: Trace, *, wanted_platform: str | None = None) -> Trace:
    """Diagnose every session of a trace in place, then what only shows across sessions."""
    for session in trace.sessions:
        session.findings = diagnose(session, wanted_platform=wanted_platform)
    return diagnose_across(trace)


__all__ = ["diagnose", "diagnose_across", "diagnose_trace", "RULES"]
