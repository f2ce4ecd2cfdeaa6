"""The terminal view: a summary and a step table per session, fitting 80 columns
(or everything, unabridged, with wide=True).

Everything from the wire (URLs, reasons, headers, finding texts that quote them) goes
through `fmt.terminal_safe` before it is measured and laid out, and the page once more
at the end: a registry's ESC, CR or bidi control is shown as an escape, never acted on.
This is also the addon's console output."""

from __future__ import annotations

from urllib.parse import unquote

from tabulate import tabulate

from pulltrace.model import Trace
from pulltrace.render import fmt
from pulltrace.render.explain import SessionExplanation, explain_session
from pulltrace.render.glossary import terms_in_order
from pulltrace.render.i18n import translator
from pulltrace.render.rows import SessionView, trace_view

_s = fmt.terminal_safe

WIDTH = 80
_SEP = 2  # tabulate's "simple" format puts two spaces between columns
_MIN_REQUEST = 24


def render_text(trace: Trace, *, wide: bool = False, lang: str = "en", explain: bool = False) -> str:
    """The trace as plain text tables; narrow (80 columns) unless wide. With `explain`, each
    step's sentences follow its session's table, and a glossary ends the page."""
    view = trace_view(trace, lang=lang)
    explained = [explain_session(s, lang) for s in trace.sessions] if explain else []
    t = translator(lang)
    out: list[str] = []
    if view.source or view.created:
        out.extend(_wrap(_s(" · ".join(x for x in (view.source, view.created) if x)), wide, "", "  "))
        out.append("")
    if not view.sessions:
        out.append(t("no_sessions"))
    for n, session in enumerate(view.sessions):
        out.extend(_session_text(session, wide=wide, lang=lang, explained=explained[n] if explained else None))
    for note in view.notes:
        out.extend(_wrap(f"{t('notes')}: {_s(note)}", wide, "", "  "))
    if explained:
        out.extend(_glossary({term for e in explained for term in e.terms}, wide, lang))
    return fmt.terminal_safe("\n".join(out).rstrip(), keep_newlines=True) + "\n"


def _session_text(session: SessionView, *, wide: bool, lang: str,
                  explained: SessionExplanation | None = None) -> list[str]:
    t = translator(lang)
    title = f"{t('session')} {session.number}: {_s(session.title)}"
    out = [title, "=" * min(WIDTH, fmt.display_width(title)), ""]
    summary = [
        (_s(row.label), _s(row.value) if wide else _fit(_s(row.value), WIDTH - 2 - _label_width(session)))
        for row in session.summary
    ]
    out.append(tabulate(summary, tablefmt="plain", disable_numparse=True))
    out.append("")
    out.append(_steps_wide(session, t) if wide else _steps_narrow(session, t))
    out.append("")
    out.extend(_why_slow(session, t, wide))
    if explained is not None:
        out.extend(_narrative(explained, wide, lang))
    if session.findings:
        out.append(f"{t('findings')}:")
        for f in session.findings:
            steps = ", ".join(f"#{link.number}" for link in f.steps if link.number)
            head = f"[{_s(f.severity_label)}] {_s(f.title)}" + (f" ({steps})" if steps else "")
            out.extend(_wrap(head, wide, "- ", "  "))
            out.extend(_wrap(f"{t('cause')}: {_s(f.cause)}", wide, "  ", "  "))
            out.extend(_wrap(f"{t('fix')}: {_s(f.fix)}", wide, "  ", "  "))
        out.append("")
    return out


def _narrative(explained: SessionExplanation, wide: bool, lang: str) -> list[str]:
    t = translator(lang)
    space = " " if lang == "en" else ""
    out = [f"{t('x_heading')}:"]
    for e in explained.steps:
        head = f"#{e.number} "
        out.extend(_wrap(_s(space.join(e.sentences)), wide, head, " " * len(head)))
    out.append("")
    if explained.notes:
        out.append(f"{t('x_notes')}:")
        for note in explained.notes:
            out.extend(_wrap(_s(note), wide, "- ", "  "))
        out.append("")
    return out


def _glossary(ids: set[str], wide: bool, lang: str) -> list[str]:
    t = translator(lang)
    out = ["", f"{t('glossary')}:"]
    for term in terms_in_order(ids):
        out.extend(_wrap(f"{term.title[lang]}: {term.text[lang]}", wide, "- ", "  "))
    return out


def _label_width(session: SessionView) -> int:
    return max((fmt.display_width(_s(r.label)) for r in session.summary), default=0)


def _fit(value: str, width: int) -> str:
    if fmt.display_width(value) <= width:
        return value
    return fmt.middle(fmt.short_digest(value), width)


def _wrap(text: str, wide: bool, first: str, rest: str) -> list[str]:
    if wide:
        return [first + text]
    return fmt.wrap(text, WIDTH, first, rest)


def _steps_narrow(session: SessionView, t) -> str:
    headers = ["#", t("kind"), t("request"), "HTTP", t("size"), t("time")]
    fixed = [
        [str(r.number), _s(r.kind_label), "", str(r.status or "ERR"), _s(r.size), _s(r.time)] for r in session.steps
    ]
    # tabulate pads every header by two (MIN_PADDING), so a column is at least that wide.
    widths = [
        max([fmt.display_width(h) + 2] + [fmt.display_width(row[i]) for row in fixed])
        for i, h in enumerate(headers)
    ]
    request_width = max(_MIN_REQUEST, WIDTH - sum(w for i, w in enumerate(widths) if i != 2) - _SEP * 5)
    rows = []
    for cells, r in zip(fixed, session.steps, strict=True):
        method = _s(r.method)
        url = fit_request(_s(r.url), request_width - fmt.display_width(method) - 1, base_host=session.registry)
        cells[2] = f"{method} {url}"
        rows.append(cells)
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def _steps_wide(session: SessionView, t) -> str:
    headers = [
        "#", t("start"), t("kind"), t("request"), t("status"), "Content-Type", t("size"), t("time"), t("links"),
    ]
    rows = [
        [
            str(r.number),
            f"+{r.start_ms:.0f} ms",
            _s(r.kind_label),
            _s(r.request_line),
            _s(r.status_text),
            _s(r.content_type),
            _s(r.size),
            _s(r.time),
            _s(", ".join(f"{link.label} #{link.number}" for link in r.links if link.number)),
        ]
        for r in session.steps
    ]
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def _why_slow(session: SessionView, t, wide: bool) -> list[str]:
    """Each downloaded blob's host, cache, time and throughput; wide adds the time split and
    the cache headers as sent. Narrow fits 80 columns by whole words: a host loses whole
    leading labels (`….cloudflare.docker.com`), a cache label wraps between words."""
    if not session.deliveries:
        return []
    out = [f"{t('why_slow')}:"]
    if wide:
        headers = ["#", t("blob"), t("served_by"), t("redirected_from"), t("cache"), t("size"), t("time"),
                   t("connect"), t("tls"), t("wait"), t("transfer"), t("throughput"), t("cache_headers")]
        rows = [[str(d.number or ""), _marked(_s(d.blob), _s(d.flag), " "), _s(d.host), _s(d.redirected_from),
                 _s(d.cache), d.size, d.time, d.connect, d.tls, d.wait, d.transfer, d.throughput, _s(d.cache_headers)]
                for d in session.deliveries]
        out += [tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True), ""]
        return out
    headers = ["#", t("blob"), t("served_by"), t("cache"), t("time"), t("throughput")]
    cells = [[str(d.number or ""), _marked(_s(d.blob), _s(d.flag), "\n"), _s(d.host), _s(d.cache), d.time, d.throughput]
             for d in session.deliveries]
    widths = [max([fmt.display_width(h) + 2]
                  + [fmt.display_width(line) for row in cells for line in row[i].split("\n")])
              for i, h in enumerate(headers)]
    room = WIDTH - sum(w for i, w in enumerate(widths) if i not in (2, 3)) - _SEP * (len(headers) - 1)
    cache_w = widths[3]
    if widths[2] + widths[3] > room:
        cache_w = max(fmt.display_width(headers[3]) + 2, min(widths[3], room - widths[2], room // 2))
    host_w = max(fmt.display_width(headers[2]) + 2, room - cache_w)
    for row in cells:
        row[2] = _whole_labels(row[2], host_w)
        row[3] = "\n".join(fmt.wrap(row[3], cache_w))
    out += [tabulate(cells, headers=headers, tablefmt="simple", disable_numparse=True), ""]
    return out


def _marked(blob: str, flag: str, sep: str) -> str:
    """`layer 2/3 (slow · cache miss)`: the blob a speed finding names, marked as in the HTML."""
    return f"{blob}{sep}({flag})" if flag else blob


def _whole_labels(host: str, width: int) -> str:
    """A host name for a narrow column: drop whole leading labels (the registrable name at the
    end says whose host it is); a single label too long for the column wraps instead."""
    if fmt.display_width(host) <= width:
        return host
    labels = host.split(".")
    for i in range(1, len(labels)):
        candidate = fmt.ELLIPSIS + "." + ".".join(labels[i:])
        if fmt.display_width(candidate) <= width:
            return candidate
    return "\n".join(fmt.wrap(host, width))


def fit_request(url: str, width: int, base_host: str = "") -> str:
    """A URL for the narrow step table, shortened by whole names (issue 13: `…rary/tiny` and
    `cdn.p…test` read as nothing): the registry's own host and the scheme go, digests shorten,
    the query becomes `?…`, a foreign host loses whole leading labels, the path whole middle
    segments (`/v2/…/blobs/sha256:5b0d5902…`). Only a single name longer than the column is cut."""
    host = fmt.host_of(url)
    path, sep, query = fmt.path_of(url).partition("?")
    prefix = "" if not host or host == base_host else host
    query = unquote(query)
    candidates = [(prefix, fmt.short_digest(path, 12), sep + query), (prefix, fmt.short_digest(path, 8), sep + query)]
    short_path = fmt.short_digest(path, 8)
    tail = "?" + fmt.ELLIPSIS if sep else ""
    candidates.append((prefix, short_path, tail))
    labels = prefix.split(".") if prefix else []
    hosts = [prefix] + [fmt.ELLIPSIS + "." + ".".join(labels[i:]) for i in range(1, len(labels) - 1)]
    candidates += [(h, short_path, tail) for h in hosts[1:]]
    segments = short_path.split("/")
    # Keep the first segment (`/v2`, which API) and as many trailing ones as fit (what was
    # asked: `blobs/sha256:…`); then only the trailing ones. A foreign host is never dropped:
    # without it a CDN path reads as the registry's.
    for lead in (2, 1):
        for n in range(len(segments) - lead - 1, 0, -1):
            candidates.append((hosts[-1], "/".join([*segments[:lead], fmt.ELLIPSIS, *segments[-n:]]), tail))
    if prefix:
        candidates += [(h, "/" + fmt.ELLIPSIS, "") for h in hosts]
    for h, p, q in candidates:
        text = h + p + q
        if fmt.display_width(text) <= width:
            return text
    return fmt.fit_url(url, width, base_host=base_host)
