"""The HTML view: one self-contained page (inline CSS and JS, no external asset)
with a summary card, a sequence diagram, a step table with a waterfall, and
collapsible headers and bodies per step."""

from __future__ import annotations

import base64
import hashlib
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pulltrace.model import Trace
from pulltrace.render import fmt
from pulltrace.render.explain import SessionExplanation, explain_session
from pulltrace.render.glossary import BY_ID, Term, terms_in_order
from pulltrace.render.i18n import translator
from pulltrace.render.rows import is_key_header, trace_view
from pulltrace.render.svg import sequence, status_class

# Long step tables are split into pages the script shows one at a time, so a
# 10,000-step trace still opens smoothly; printing shows every page.
PAGE_SIZE = 200


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment. Templates are named *.html and autoescape is on
    for every name (select_autoescape would skip a `.j2` name)."""
    env = Environment(
        loader=PackageLoader("pulltrace.render"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )
    env.globals.update(
        is_key_header=is_key_header,
        status_class=status_class,
        human_ms=fmt.human_ms,
        human_bytes=fmt.human_bytes,
        pct=_pct,
        width_pct=_width_pct,
        page_size=PAGE_SIZE,
    )
    return env


def _pct(value: float, total: float) -> str:
    return f"{min(100.0, 100.0 * value / total):.2f}" if total > 0 else "0"


def _width_pct(duration: float | None, total: float) -> str:
    # At least a sliver, so a 0 ms step still shows where it happened.
    if not total or not duration:
        return "0.4"
    return f"{max(0.4, 100.0 * duration / total):.2f}"


@cache
def asset(name: str) -> str:
    """The project's own CSS/JS, inlined so the page opens offline."""
    return resources.files("pulltrace.render").joinpath("static", name).read_text(encoding="utf-8")


def script_hash(js: str) -> str:
    """The CSP source for exactly this script: injected markup could not run
    even if escaping ever failed."""
    digest = hashlib.sha256(js.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def page(template: str, *, lang: str, **context: Any) -> str:
    """Render one of the package's templates with the shared assets and labels."""
    js = asset("report.js")
    return environment().get_template(template).render(
        lang=lang,
        t=translator(lang),
        css=asset("report.css"),
        js=js,
        script_hash=script_hash(js),
        **context,
    )


def render_html(trace: Trace, *, lang: str = "en", explain: bool = False) -> str:
    """The trace as one HTML page; several sessions get an index at the top. With `explain`
    (teaching mode, issue 16) each step gets its sentences (a toggle hides them), each session
    a narrative and its answered questions, the page a glossary, and it prints as a handout."""
    view = trace_view(trace, lang=lang)
    sessions = [(s, sequence(s, lang=lang)) for s in view.sessions]
    explanations: dict[str, SessionExplanation] = {}
    terms: list[Term] = []
    if explain:
        explanations = {s.anchor: explain_session(session, lang)
                        for s, session in zip(view.sessions, trace.sessions, strict=True)}
        terms = terms_in_order({term for e in explanations.values() for term in e.terms})
    return page("report.html", lang=lang, view=view, sessions=sessions, explanations=explanations,
                glossary=terms, glossary_by_id=BY_ID)
