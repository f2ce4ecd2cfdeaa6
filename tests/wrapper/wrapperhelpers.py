"""Reading what a capture wrote (this folder is on sys.path under pytest)."""

from __future__ import annotations

from pathlib import Path

from pulltrace.model import Session, Step, Trace, load_trace


def trace_in(out: Path) -> Trace:
    return load_trace(out / "pulltrace.json")


def pull_of(trace: Trace, repository: str) -> Session:
    """The one pull session of `repository` (a client may open several; they must agree)."""
    sessions = [s for s in trace.sessions if s.action == "pull" and repository in (s.summary.image or "")]
    assert sessions, [(s.action, s.summary.image) for s in trace.sessions]
    return sessions[0]


def kinds(steps: list[Step]) -> set[str]:
    return {s.kind.value for s in steps}


def all_steps(trace: Trace) -> list[Step]:
    return [step for session in trace.sessions for step in session.steps]
