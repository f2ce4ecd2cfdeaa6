"""Trace -> every file and text pulltrace writes: the one output dispatcher.

The addon (at exit and on `pulltrace.save`), `report`, `show` and `pull --save-report` all
render through `render`, so a format looks the same whichever command wrote it. It is also
the last line of defence for secrets: every string of the trace is masked again here, by
name and by shape, whatever the trace's flags claim (a loaded file may lie), unless the
user asked to see secrets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pulltrace.errors import UserError
from pulltrace.model import Trace, write_atomically
from pulltrace.redact import mask_trace

FORMATS = ("json", "html", "md", "text", "har", "fleet", "fleet-md")
SUFFIXES = {"json": ".json", "html": ".html", "md": ".md", "text": ".txt", "har": ".har",
            "fleet": ".fleet.txt", "fleet-md": ".fleet.md"}
# What a text or Markdown request becomes when the pulls come from several nodes.
FLEET_OF = {"text": "fleet", "md": "fleet-md"}
_OTHER_SUFFIXES = {".htm": "html", ".markdown": "md"}


def render(trace: Trace, fmt: str, *, lang: str = "en", wide: bool = False, show_secrets: bool = False,
           explain: bool = False) -> str:
    """One view of `trace` as text, secrets masked unless `show_secrets` (a HAR masks them
    regardless). Views are imported on use: JSON needs no jinja2. `explain` adds the teaching
    sentences and glossary to the HTML, Markdown and text views."""
    if fmt not in FORMATS:
        raise UserError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not show_secrets:
        trace = mask_trace(trace)
    return _render_masked(trace, fmt, lang=lang, wide=wide, explain=explain)


def _render_masked(trace: Trace, fmt: str, *, lang: str, wide: bool, explain: bool = False) -> str:
    if fmt == "json":
        return trace.to_json() + "\n"
    if fmt == "har":
        from pulltrace.render.har import to_har

        return json.dumps(to_har(trace), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        from pulltrace.render.html import render_html

        return render_html(trace, lang=lang, explain=explain)
    if fmt == "md":
        from pulltrace.render.markdown import render_markdown

        return render_markdown(trace, lang=lang, explain=explain)
    if fmt == "text":
        from pulltrace.render.text import render_text

        return render_text(trace, wide=wide, lang=lang, explain=explain)
    if fmt in ("fleet", "fleet-md"):
        # Many nodes' pulls side by side (English only for now).
        from pulltrace.render.fleet import render_fleet_markdown, render_fleet_text

        return render_fleet_text(trace) if fmt == "fleet" else render_fleet_markdown(trace)
    raise UserError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")


def format_for(path: str | os.PathLike[str]) -> str | None:
    """The format a file name asks for by its suffix (`report.html` → html), if any."""
    suffix = Path(path).suffix.lower()
    for fmt, known in SUFFIXES.items():
        if suffix == known:
            return fmt
    return _OTHER_SUFFIXES.get(suffix)


def write_outputs(trace: Trace, directory: str | os.PathLike[str], formats: list[str],
                  stem: str = "pulltrace", *, show_secrets: bool = False) -> list[Path]:
    """Write each format to `<directory>/<stem><suffix>`, each file whole or not at all.

    The trace is masked once for all formats (unless `show_secrets`)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    masked = trace if show_secrets else mask_trace(trace)
    written = []
    for fmt in formats:
        target = out / f"{stem}{SUFFIXES[fmt]}"
        write_atomically(target, render(masked, fmt, show_secrets=True))
        written.append(target)
    return written
