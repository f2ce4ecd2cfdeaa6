"""Trace -> every file and text pulltrace writes: the one output dispatcher.

The addon (at exit and on `pulltrace.save`), `report`, `show` and `pull --report` all
render through `render`, so a format looks the same whichever command wrote it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pulltrace.errors import UserError
from pulltrace.model import Trace, write_atomically

FORMATS = ("json", "html", "md", "text", "har", "fleet", "fleet-md")
SUFFIXES = {"json": ".json", "html": ".html", "md": ".md", "text": ".txt", "har": ".har",
            "fleet": ".fleet.txt", "fleet-md": ".fleet.md"}
# What a text or Markdown request becomes when the pulls come from several nodes.
FLEET_OF = {"text": "fleet", "md": "fleet-md"}
_OTHER_SUFFIXES = {".htm": "html", ".markdown": "md"}


def render(trace: Trace, fmt: str, *, lang: str = "en", wide: bool = False) -> str:
    """One view of `trace` as text. Views are imported on use: JSON needs no jinja2."""
    if fmt == "json":
        return trace.to_json() + "\n"
    if fmt == "har":
        from pulltrace.render.har import to_har

        return json.dumps(to_har(trace), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        from pulltrace.render.html import render_html

        return render_html(trace, lang=lang)
    if fmt == "md":
        from pulltrace.render.markdown import render_markdown

        return render_markdown(trace, lang=lang)
    if fmt == "text":
        from pulltrace.render.text import render_text

        return render_text(trace, wide=wide, lang=lang)
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
                  stem: str = "pulltrace") -> list[Path]:
    """Write each format to `<directory>/<stem><suffix>`, each file whole or not at all."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = out / f"{stem}{SUFFIXES[fmt]}"
        write_atomically(target, render(trace, fmt))
        written.append(target)
    return written
