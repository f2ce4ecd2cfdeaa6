"""Exchanges -> Trace: classify, group into sessions, diagnose. Every source ends here.

The addon, the importers and the pull client all hand their exchanges to
`build_trace`, so a trace looks the same whichever way its traffic was obtained.
Exchanges arrive with secrets already masked (or not, when the user asked to see them).
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable

from pulltrace import __version__
from pulltrace.classify import classify
from pulltrace.model import Exchange, Finding, Session, Severity, StepKind, Trace
from pulltrace.sessions import group_sessions

DIGEST_MISMATCH = "blob.digest-mismatch"

_BLOB_BODY_KINDS = frozenset({StepKind.CONFIG_BLOB, StepKind.LAYER_BLOB, StepKind.CDN_DOWNLOAD})


def build_trace(exchanges: Iterable[Exchange], source: str) -> Trace:
    """Classify `exchanges`, group them into sessions and attach findings."""
    exchanges = list(exchanges)
    steps = classify(exchanges)
    sessions = group_sessions(steps)
    diagnose = _diagnoser()
    for session in sessions:
        findings = list(diagnose(session)) if diagnose is not None else []
        # The digest check is pulltrace's own promise for every capture: kept even when
        # the diagnosis rules are absent (or say nothing about it).
        if not any(f.rule == DIGEST_MISMATCH for f in findings):
            findings = integrity_findings(session) + findings
        session.findings = findings
    ends = [e.started_at + (e.duration_ms or 0.0) / 1000.0 for e in exchanges]
    return Trace(
        sessions=sessions,
        source=source,
        # The time of the last exchange, not of this call: the same traffic gives the
        # same trace, whenever it is rebuilt.
        created_at=round(max(ends), 3) if ends else 0.0,
        tool_version=__version__,
    )


def _diagnoser() -> Callable[[Session], list[Finding]] | None:
    try:
        module = importlib.import_module("pulltrace.diagnose")
    except ModuleNotFoundError as e:
        if e.name and "pulltrace.diagnose".startswith(e.name):
            return None
        raise
    return getattr(module, "diagnose", None)


def integrity_findings(session: Session) -> list[Finding]:
    """A blob whose bytes do not hash to the digest it was asked for by."""
    findings = []
    for step in session.steps:
        ex = step.exchange
        if step.kind not in _BLOB_BODY_KINDS or not ex.body_sha256 or ex.status != 200:
            continue
        expected = step.info.get("digest") or step.reference
        if not expected or not expected.startswith("sha256:"):
            continue
        got = ex.body_sha256 if ex.body_sha256.startswith("sha256:") else f"sha256:{ex.body_sha256}"
        if got == expected:
            continue
        where = "the CDN" if step.kind is StepKind.CDN_DOWNLOAD else "the registry"
        findings.append(
            Finding(
                rule=DIGEST_MISMATCH,
                severity=Severity.ERROR,
                title=f"Blob {expected[:19]}… arrived with different content",
                cause=(
                    f"The {ex.response_bytes or 0} bytes {where} sent hash to {got}, not to the digest "
                    f"{expected} the client asked for. A proxy or cache rewrote the body, or the "
                    "storage behind the registry is corrupt; the client will reject this layer."
                ),
                fix=(
                    "Pull again without any intercepting proxy or cache in between; if it persists, "
                    "the registry operator must repair or re-push the blob."
                ),
                steps=[step.id],
            )
        )
    return findings
