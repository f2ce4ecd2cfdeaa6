"""What a finished pull tells mitmproxy about each of its flows: comment, mark and metadata.

Shown in mitmweb and the console (`~comment pull`, `~marked`, `~meta` filters), e.g.
`#6 blob redirect · layer 2/3 · pull 1 hub.example/library/multi:latest`. A step is
marked when it failed (no answer, or an error status the protocol did not resolve: a
ping's 401, or a 401 challenge answered by a token, is the token dance, not a failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulltrace.model import Session, Step, StepKind
from pulltrace.render.i18n import translator

_T = translator("en")


@dataclass(frozen=True)
class FlowName:
    flow_id: str
    comment: str
    marked: bool
    metadata: dict[str, Any]


def _failed(step: Step, answered: set[str]) -> bool:
    ex = step.exchange
    if ex.error is not None or ex.status is None:
        return True
    if ex.status == 401:
        # A ping's 401 is how a registry names its auth; elsewhere a token must have answered it.
        return step.kind is not StepKind.PING and step.id not in answered
    return ex.status >= 400


def flow_names(session: Session, number: int) -> list[FlowName]:
    """One FlowName per step of the number-th pull of the capture, in step order."""
    answered = {link.target for s in session.steps for link in s.links if link.rel == "answers"}
    what = session.summary.image or session.summary.registry or session.action
    label = f"pull {number}" if session.action == "pull" else f"{session.action} {number}"
    out = []
    for step in session.steps:
        parts = [f"#{step.index} {_T(f'kind_{step.kind}')}"]
        if step.role:
            parts.append(step.role)
        parts.append(f"{label} {what}".strip())
        failed = _failed(step, answered)
        if failed and step.exchange.error:
            parts.append(step.exchange.error)
        meta = {
            "kind": str(step.kind),
            "step": step.index,
            "pull": number,
            "session": session.id,
            "action": session.action,
            "image": session.summary.image,
            "role": step.role,
            "links": [{"rel": link.rel, "target": link.target} for link in step.links],
        }
        out.append(FlowName(step.id, " · ".join(parts), failed, meta))
    return out
