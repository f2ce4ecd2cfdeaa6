"""What every rule shares: its signature, how findings are ordered, and "did the client recover?"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

from pulltrace.diagnose.facts import (
    error_codes,
    error_message,
    host_of,
    is_blob_step,
    is_cdn_step,
    is_manifest_step,
    short,
    transport_problem,
    v2_path,
)
from pulltrace.model import Finding, Session, Severity, Step


class Rule(Protocol):
    def __call__(self, session: Session, *, wanted_platform: str | None = None) -> list[Finding]: ...


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def order_findings(session: Session, findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then info; within each, by the first step concerned.

    The sort is stable, so on the same step the rule listed first in RULES (the most
    specific) stays first.
    """
    position = {step.id: i for i, step in enumerate(session.steps)}

    def key(f: Finding) -> tuple[int, int]:
        first = min((position.get(s, len(position)) for s in f.steps), default=len(position) + 1)
        return _SEVERITY_RANK.get(f.severity, 3), first

    return sorted(findings, key=key)


def describe(step: Step) -> str:
    """`GET /v2/library/tiny/manifests/latest on hub.pulltrace.test` — no query string, it may hold a signature."""
    ex = step.exchange
    return f"{ex.method} {urlsplit(ex.url).path or '/'} on {host_of(ex.url)}"


def status_text(step: Step) -> str:
    ex = step.exchange
    if ex.status is None:
        return f"no answer ({short(ex.error or 'connection failed', 120)})"
    text = f"{ex.status} {ex.reason}".strip()
    codes = error_codes(ex)
    # 401 Unauthorized UNAUTHORIZED says nothing twice; MANIFEST_UNKNOWN adds the why.
    if codes and codes[0].replace("_", " ").lower() != ex.reason.lower():
        text += f" {codes[0]}"
    return text


def position_of(session: Session, step: Step) -> int:
    for i, s in enumerate(session.steps):
        if s is step:
            return i
    return -1


def _same_target(a: Step, b: Step) -> bool:
    """Two requests for the same thing: same endpoint, repository and reference (any host:
    a fallback from a mirror to the upstream asks the same thing of another host)."""
    pa, pb = v2_path(a.exchange.url), v2_path(b.exchange.url)
    if pa and pb:
        return (pa.endpoint, pa.repository, pa.reference) == (pb.endpoint, pb.repository, pb.reference)
    return urlsplit(a.exchange.url).path == urlsplit(b.exchange.url).path


def ok(step: Step) -> bool:
    status = step.exchange.status
    return status is not None and status < 400


def recovered(session: Session, step: Step) -> bool:
    """True when a later request for the same thing succeeded: the client got past this failure."""
    pos = position_of(session, step)
    for later in session.steps[pos + 1:]:
        if ok(later) and _same_target(step, later):
            return True
    return False


def finding(
    rule: str,
    severity: Severity,
    title: str,
    cause: str,
    fix: str,
    steps: Iterable[Step | str],
) -> Finding:
    step_ids = [s if isinstance(s, str) else s.id for s in steps]
    return Finding(rule=rule, severity=severity, title=title, cause=cause, fix=fix, steps=list(dict.fromkeys(step_ids)))


def unexplained_failure(session: Session) -> Finding | None:
    """A safety net: a manifest or blob request that failed for good and that no rule explained."""
    for step in session.steps:
        if not (is_manifest_step(step) or is_blob_step(step) or is_cdn_step(step)):
            continue
        ex = step.exchange
        if ok(step) or recovered(session, step):
            continue
        if ex.status == 401 and not ex.request_header("authorization"):
            continue  # the ordinary challenge before a token; the retry is judged instead
        detail = error_message(ex) or (transport_problem(ex.error) and ex.error) or ""
        return finding(
            "pull.failed",
            Severity.ERROR,
            f"The pull failed at {describe(step)}",
            f"{describe(step)} got {status_text(step)}"
            + (f": {short(detail)}" if detail else "")
            + ". No known cause matched; the exchange itself is the best evidence.",
            "Open this step in the report (`pulltrace show`) and read the response headers and body; "
            "compare it with the same pull from another client.",
            [step],
        )
    return None
