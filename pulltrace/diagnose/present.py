"""Findings as the doctor prints them: the worst first, each with its steps, cause and fix."""

from __future__ import annotations

import textwrap

from pulltrace.model import Finding, Session, Severity, Trace

WIDTH = 80

_LABEL = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "info"}
_COLOUR = {Severity.ERROR: "31;1", Severity.WARNING: "33;1", Severity.INFO: "36"}


def counts(findings: list[Finding]) -> str:
    errors = sum(f.severity == Severity.ERROR for f in findings)
    warnings = sum(f.severity == Severity.WARNING for f in findings)
    infos = len(findings) - errors - warnings
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    if infos:
        parts.append(f"{infos} note{'s' * (infos != 1)}")
    return ", ".join(parts)


def step_labels(session: Session, ids: list[str]) -> str:
    """`#2 token, #3 manifest`: step numbers as the step table shows them."""
    labels = []
    for position, step in enumerate(session.steps, start=1):
        if step.id in ids:
            labels.append(f"#{position} {step.kind.value}")
    return ", ".join(labels)


def format_finding(session: Session | None, finding: Finding, *, colour: bool = False, width: int = WIDTH) -> str:
    label = _LABEL.get(finding.severity, str(finding.severity))
    head = f"{label}  {finding.title}"
    if colour:
        head = f"\x1b[{_COLOUR.get(finding.severity, '0')}m{label}\x1b[0m  {finding.title}"
    lines = [head, f"  rule:  {finding.rule}"]
    labels = ""
    if session is not None and finding.steps:
        labels = step_labels(session, finding.steps) or ", ".join(finding.steps)
    # A redirect loop names every hop: the step list wraps like the text does, never inside
    # one `#5 blob-redirect` (NUL keeps its words together while wrapping).
    for name, text in (("steps", labels.replace(" ", "\0").replace(",\0", ", ")),
                       ("why", finding.cause), ("fix", finding.fix)):
        wrapped = [line.replace("\0", " ") for line in
                   textwrap.wrap(text, width=width - 9, break_long_words=False, break_on_hyphens=False)]
        lines.extend(f"  {name + ':':<6} {line}" if i == 0 else f"         {line}" for i, line in enumerate(wrapped))
    return "\n".join(lines)


def format_trace_findings(trace: Trace, *, colour: bool = False, width: int = WIDTH,
                          extra: list[Finding] | None = None) -> str:
    """Every session's findings, each session headed by its image and client."""
    out: list[str] = []
    for number, session in enumerate(trace.sessions, start=1):
        title = session.summary.image or session.summary.registry or session.id
        heading = f"Session {number}: {session.action} {title}"
        if session.client:
            heading += f" ({session.client})"
        out.append(f"{heading} — {counts(session.findings)}")
        if not session.findings:
            out.append("  No problem found: every step succeeded as the protocol expects.")
        for finding in session.findings:
            out.append("")
            out.append(format_finding(session, finding, colour=colour, width=width))
        out.append("")
    for finding in extra or []:
        out.append(format_finding(None, finding, colour=colour, width=width))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
