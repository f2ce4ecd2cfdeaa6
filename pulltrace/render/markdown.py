"""The Markdown view: a blog-ready page with a step table like seed 000's and
fenced HTTP transcripts like seed 001's. Secrets arrive masked from the model."""

from __future__ import annotations

import re

from pulltrace.model import Trace
from pulltrace.render import fmt
from pulltrace.render.explain import SessionExplanation, explain_session
from pulltrace.render.glossary import BY_ID, terms_in_order
from pulltrace.render.i18n import translator
from pulltrace.render.rows import SessionView, StepRow, TraceView, trace_view

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def md_text(text: str) -> str:
    """Text safe inside a Markdown table cell or heading: no markup, no raw HTML.

    Registry responses are untrusted; a header holding `<script>` must stay text
    wherever the page is published, so HTML is entity-escaped as well."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("\r", "").replace("\n", "<br>")


def fence(body: str, info: str = "http") -> str:
    """A fenced block whose fence is longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{body.rstrip()}\n{marks}"


def render_markdown(trace: Trace, *, lang: str = "en", explain: bool = False) -> str:
    """The trace as one Markdown page; with `explain`, a narrative per session (seed 003's
    line-by-line reading), the questions the trace answers, and a glossary at the end."""
    view = trace_view(trace, lang=lang)
    explained = [explain_session(s, lang) for s in trace.sessions] if explain else []
    t = translator(lang)
    out = [f"# {t('report')}", ""]
    meta = [x for x in (view.source, view.created) if x]
    if meta:
        out += [md_text(" · ".join(meta)), ""]
    if not view.sessions:
        out += [t("no_sessions"), ""]
    if len(view.sessions) > 1:
        out += [f"## {t('sessions')}", ""]
        for s in view.sessions:
            out.append(f"{s.number}. [{md_text(s.title)}](#{s.anchor}) — {len(s.steps)} {t('steps').lower()}")
        out.append("")
    for n, session in enumerate(view.sessions):
        out += _session(session, view, lang, explained[n] if explained else None)
    for note in view.notes:
        out += [f"> {md_text(note)}", ""]
    if explained:
        out += _glossary({term for e in explained for term in e.terms}, lang)
    # The page may be printed on a terminal: control bytes from the wire shown escaped.
    return fmt.terminal_safe("\n".join(out).rstrip(), keep_newlines=True) + "\n"


def _session(session: SessionView, view: TraceView, lang: str,
             explained: SessionExplanation | None = None) -> list[str]:
    t = translator(lang)
    out = [
        f'<a id="{session.anchor}"></a>',
        "",
        f"## {t('session')} {session.number}: {md_text(session.title)}",
        "",
        f"| {t('summary')} | |",
        "|---|---|",
    ]
    out += [f"| {md_text(row.label)} | {md_text(row.value)} |" for row in session.summary]
    out += ["", f"### {t('steps')}", ""]
    out += [
        f"| {t('step')} | {t('kind')} | {t('request')} | {t('response')} | {t('time')} |",
        "|---|---|---|---|---|",
    ]
    out += [_step_row(r, t) for r in session.steps]
    out.append("")
    out += _why_slow(session, t)
    if explained is not None:
        out += _narrative(session, explained, lang)
    if session.findings:
        out += [f"### {t('findings')}", ""]
        for f in session.findings:
            steps = ", ".join(f"[#{link.number}](#{link.anchor})" for link in f.steps if link.number)
            out.append(f"- **{md_text(f.severity_label)}: {md_text(f.title)}**" + (f" ({steps})" if steps else ""))
            out.append(f"  - {t('cause')}: {md_text(f.cause)}")
            out.append(f"  - {t('fix')}: {md_text(f.fix)}")
        out.append("")
    out += [f"### {t('transcripts')}", ""]
    for r in session.steps:
        heading = f"#### {r.number}. {md_text(r.kind_label)} — {md_text(r.method)} {md_text(r.path)}"
        out += [f'<a id="{r.anchor}"></a>', "", heading, ""]
        out += [fence(transcript(r, t)), ""]
    return out


def _why_slow(session: SessionView, t) -> list[str]:
    """Each downloaded blob: the host that served it, what its cache said, where its time went."""
    if not session.deliveries:
        return []
    # The blob first: a row opening with a step link is a step row (`| [3](#s1-3) |`).
    heads = [t("blob"), t("step"), t("served_by"), t("cache"), t("size"), t("time"), t("connect"), t("tls"), t("wait"),
             t("transfer"), t("throughput")]
    out = [f"### {t('why_slow')}", "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for d in session.deliveries:
        number = f"[{d.number}](#{d.anchor})" if d.number else ""
        served = md_text(d.host) + (f"<br>← {md_text(d.redirected_from)}" if d.redirected_from else "")
        cache = md_text(d.cache) + (f"<br>{md_text(d.cache_headers)}" if d.cache_headers else "")
        blob = md_text(d.blob) + (f" **({md_text(d.flag)})**" if d.flag else "")
        cells = [blob, number, served, cache, d.size, d.time, d.connect, d.tls, d.wait, d.transfer,
                 d.throughput]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    return out


def _terms(ids: tuple[str, ...], lang: str) -> str:
    t = translator(lang)
    if not ids:
        return ""
    links = ", ".join(f"[{md_text(BY_ID[i].title[lang])}](#term-{i})" for i in ids)
    return f" ({t('x_terms')} {links})"


def _narrative(session: SessionView, explained: SessionExplanation, lang: str) -> list[str]:
    t = translator(lang)
    space = " " if lang == "en" else ""
    out = [f"### {t('x_heading')}", ""]
    for e in explained.steps:
        text = md_text(space.join(e.sentences))
        out.append(f"- [#{e.number}](#{session.anchor}-{e.number}) {text}{_terms(e.terms, lang)}")
    out.append("")
    if explained.notes:
        out += [f"### {t('x_notes')}", ""] + [f"- {md_text(note)}" for note in explained.notes] + [""]
    return out


def _glossary(ids: set[str], lang: str) -> list[str]:
    t = translator(lang)
    out = [f"## {t('glossary')}", ""]
    for term in terms_in_order(ids):
        out += [f'<a id="{term.anchor()}"></a>', "", f"**{md_text(term.title[lang])}**: {md_text(term.text[lang])}", ""]
    return out


def _step_row(r: StepRow, t) -> str:
    request = [f"{r.method} {r.url} {r.http_version}"] + [f"{k}: {v}" for k, v in r.key_request_headers]
    response = [f"{r.http_version} {r.status_text}"] + [f"{k}: {v}" for k, v in r.key_response_headers]
    if r.error:
        response.append(f"{t('error')}: {r.error}")
    links = "".join(
        f"<br>→ {md_text(link.label)} [#{link.number}](#{link.anchor})" for link in r.links if link.number
    )
    cells = [
        f"[{r.number}](#{r.anchor})",
        md_text(r.kind_label),
        "<br>".join(md_text(x) for x in request),
        "<br>".join(md_text(x) for x in response) + links,
        md_text(r.time),
    ]
    return "| " + " | ".join(cells) + " |"


def transcript(r: StepRow, t) -> str:
    """The exchange as an HTTP/1.1 transcript: request, headers, body; response likewise."""
    lines = [f"{r.method} {r.url} {r.http_version}"]
    lines += [f"{k}: {v}" for k, v in r.request_headers]
    if r.request_body:
        lines += ["", r.request_body]
    lines += ["", ""]
    if r.status is None:
        lines.append(f"({t('error')}: {r.error or '?'})")
        return "\n".join(lines)
    lines.append(f"{r.http_version} {r.status_text}")
    lines += [f"{k}: {v}" for k, v in r.response_headers]
    if r.response_body:
        lines += ["", r.response_body]
    elif r.is_blob_body:
        lines += ["", t("body_of_blob")]
    return "\n".join(lines)
