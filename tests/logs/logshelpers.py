"""Helpers for the log tests against the lab: read only what a pull appended to a log."""

from __future__ import annotations

import time
from pathlib import Path

from pulltrace.commands.load import load_trace
from pulltrace.model import Session, Trace

LOGS = Path("/var/lib/pulltrace-lab/logs")


class Tail:
    """The bytes a set of logs gain from now on, copied to files a report can read."""

    def __init__(self, *names: str) -> None:
        self.paths = [LOGS / name for name in names]
        self.offsets = {p: p.stat().st_size if p.exists() else 0 for p in self.paths}

    def copy(self, into: Path, settle: float = 1.0) -> list[Path]:
        time.sleep(settle)  # nginx and the registry write a line when a response ends
        out = []
        for p in self.paths:
            with p.open("rb") as f:
                f.seek(self.offsets[p])
                data = f.read()
            target = into / p.name
            target.write_bytes(data)
            out.append(target)
        return out


def report(*paths: Path, log_format: str | None = None) -> Trace:
    return load_trace(list(paths), log_format=log_format)


def pulls_of(trace: Trace, image: str, client: str) -> list[Session]:
    return [s for s in trace.sessions if s.action == "pull" and s.summary.image == image
            and s.client.startswith(client)]


def kinds(session: Session) -> list[str]:
    return [s.kind.value for s in session.steps]


def assert_downloads_follow_redirects(session: Session) -> None:
    """Every CDN download follows a blob redirect of this session for the same digest."""
    steps = {s.id: s for s in session.steps}
    redirects = [s for s in session.steps if s.kind.value == "blob-redirect"]
    downloads = [s for s in session.steps if s.kind.value == "cdn-download"]
    assert len(downloads) == len(redirects)
    for cdn in downloads:
        (origin,) = cdn.linked("follows")
        assert steps[origin].kind.value == "blob-redirect"
        assert steps[origin].reference == cdn.facts.digest
