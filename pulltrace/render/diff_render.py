"""Text, Markdown and HTML views of a TraceDiff (the data comes from diff.py)."""

from __future__ import annotations

from tabulate import tabulate

from pulltrace.render import fmt
from pulltrace.render.diff import CHANGED, ONLY_A, ONLY_B, SAME, DiffRow, SessionDiff, TraceDiff
from pulltrace.render.i18n import translator
from pulltrace.render.markdown import md_text

_MARK = {SAME: "=", CHANGED: "~", ONLY_A: "-", ONLY_B: "+"}
WIDTH = 80


def _status(r: DiffRow) -> str:
    a = str(r.a.status or "ERR") if r.a else ""
    b = str(r.b.status or "ERR") if r.b else ""
    if r.a and r.b:
        return a if a == b else f"{a}→{b}"
    return a or b


def _request(r: DiffRow) -> tuple[str, str, str]:
    row = r.a or r.b
    assert row is not None
    return row.method, row.url, row.host


def _legend(t, d: TraceDiff) -> str:
    return f"A = {d.label_a}\nB = {d.label_b}\n= {t('same')}  ~ {t('changed')}  - {t('only_a')}  + {t('only_b')}"


def render_diff_text(d: TraceDiff, *, wide: bool = False) -> str:
    t = translator(d.lang)
    out = [_legend(t, d), ""]
    for s in d.sessions:
        title = f"{t('session')} {s.number}: {s.title_a or '—'}  ⇄  {s.title_b or '—'}"
        lines = [title] if wide else fmt.wrap(title, WIDTH, "", "  ")
        out += [*lines, "=" * min(WIDTH, max(fmt.display_width(x) for x in lines)), ""]
        if s.totals:
            out.append(tabulate([(x.field, x.a, x.b) for x in s.totals], headers=["", "A", "B"],
                                tablefmt="simple", disable_numparse=True))
            out.append("")
        out.append(_table(s, t, wide))
        out.append("")
        out.append(t("diff_summary", **{k.replace("-", "_"): v for k, v in s.counts.items()}))
        changed = [r for r in s.rows if r.differences]
        if changed:
            out += ["", f"{t('differences')}:"]
            for r in changed:
                out.append(f"- A #{r.a.number if r.a else '?'} / B #{r.b.number if r.b else '?'} {r.kind_label}:")
                for x in r.differences:
                    a, b = (x.a, x.b) if wide else (fmt.middle(x.a or "∅", 34), fmt.middle(x.b or "∅", 34))
                    out.append(f"    {x.field}: {a or '∅'} → {b or '∅'}")
        out.append("")
    # Wire text (URLs, titles) may hold ESC/CR/bidi controls: shown escaped, never acted on.
    return fmt.terminal_safe("\n".join(out).rstrip(), keep_newlines=True) + "\n"


def _table(s: SessionDiff, t, wide: bool) -> str:
    headers = ["", "A", "B", t("kind"), t("request"), "HTTP", "A ms", "B ms"]
    fixed = []
    for r in s.rows:
        fixed.append([
            _MARK[r.status],
            str(r.a.number) if r.a else "",
            str(r.b.number) if r.b else "",
            r.kind_label,
            "",
            _status(r),
            f"{r.a.duration_ms:.0f}" if r.a and r.a.duration_ms is not None else "",
            f"{r.b.duration_ms:.0f}" if r.b and r.b.duration_ms is not None else "",
        ])
    widths = [max([fmt.display_width(h) + 2] + [fmt.display_width(c[i]) for c in fixed]) for i, h in enumerate(headers)]
    room = max(20, WIDTH - sum(w for i, w in enumerate(widths) if i != 4) - 2 * 7)
    for cells, r in zip(fixed, s.rows, strict=True):
        method, url, _ = _request(r)
        base = s.registry_a if r.a else s.registry_b
        cells[4] = f"{method} {url}" if wide else f"{method} {fmt.fit_url(url, room - len(method) - 1, base_host=base)}"
    return tabulate(fixed, headers=headers, tablefmt="simple", disable_numparse=True)


def render_diff_markdown(d: TraceDiff) -> str:
    t = translator(d.lang)
    out = [f"# {t('diff_report')}", "", f"- A: {md_text(d.label_a)}", f"- B: {md_text(d.label_b)}", ""]
    for s in d.sessions:
        out += [f"## {t('session')} {s.number}: {md_text(s.title_a or '—')} ⇄ {md_text(s.title_b or '—')}", ""]
        if s.totals:
            out += ["| | A | B |", "|---|---|---|"]
            out += [f"| {md_text(x.field)} | {md_text(x.a)} | {md_text(x.b)} |" for x in s.totals]
            out.append("")
        out += [
            f"| | A | B | {t('kind')} | {t('request')} | {t('status')} "
            f"| A {t('time')} | B {t('time')} | {t('differences')} |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in s.rows:
            method, url, _ = _request(r)
            diffs = "<br>".join(
                f"{md_text(x.field)}: {md_text(x.a or '∅')} → {md_text(x.b or '∅')}" for x in r.differences
            )
            out.append(
                f"| {_MARK[r.status]} | {r.a.number if r.a else ''} | {r.b.number if r.b else ''} "
                f"| {md_text(r.kind_label)} "
                f"| {md_text(method + ' ' + url)} | {md_text(_status(r))} | {md_text(r.a.time if r.a else '')} "
                f"| {md_text(r.b.time if r.b else '')} | {diffs} |"
            )
        out += ["", md_text(t("diff_summary", **{k.replace("-", "_"): v for k, v in s.counts.items()})), ""]
    return "\n".join(out).rstrip() + "\n"


def render_diff_html(d: TraceDiff) -> str:
    from pulltrace.render.html import page

    return page("diff.html", lang=d.lang, diff=d, mark=_MARK, diff_status=_status)
