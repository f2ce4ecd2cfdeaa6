"""Several traces -> one report each (HTML and Markdown) plus an index page linking them.

A pure view: names and traces in, file names and texts out, nothing read or written here.
Deterministic (no "now", no absolute path), so a re-render can be compared with what is on
disk. `pulltrace gallery` renders a user's captures with it; the repository's own
`reports/` are its samples rendered the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pulltrace.model import Trace
from pulltrace.redact import mask_trace
from pulltrace.render import fmt
from pulltrace.render.html import page
from pulltrace.render.outputs import render


@dataclass(frozen=True)
class Entry:
    """One row of the index: a report and what its trace holds."""

    name: str
    sample: str
    images: str
    sessions: int
    steps: int
    findings: int
    duration: str


def gallery_entry(name: str, label: str, trace: Trace) -> Entry:
    return Entry(
        name=name,
        sample=label,
        images=", ".join(dict.fromkeys(s.summary.image for s in trace.sessions if s.summary.image)),
        sessions=len(trace.sessions),
        steps=sum(len(s.steps) for s in trace.sessions),
        findings=sum(len(s.findings) for s in trace.sessions),
        duration=fmt.human_ms(sum(s.summary.duration_ms for s in trace.sessions)),
    )


def render_gallery(traces: Iterable[tuple[str, str, Trace]], *, lang: str = "en") -> dict[str, str]:
    """File name -> content: `<name>.html` and `<name>.md` per (name, label, trace), and index.html."""
    files: dict[str, str] = {}
    entries = []
    for name, label, trace in traces:
        # Through the one dispatcher, so the final masking pass covers a gallery too (once per trace).
        masked = mask_trace(trace)
        files[f"{name}.html"] = render(masked, "html", lang=lang, show_secrets=True)
        files[f"{name}.md"] = render(masked, "md", lang=lang, show_secrets=True)
        entries.append(gallery_entry(name, label, masked))
    files["index.html"] = page("gallery.html", lang=lang, entries=entries)
    return files
