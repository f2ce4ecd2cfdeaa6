"""Render a generated 10,000-exchange trace to HTML (and text, Markdown); record
time and peak memory in bench/RESULTS.md under the render section.

    .venv/bin/python bench/render.py [--exchanges N] [--no-write]

Target: HTML in <= 5 s, and a page that still opens smoothly (the step table is
paged; the sequence diagram is cut at its first steps)."""

from __future__ import annotations

import argparse
import json
import platform
import time
import tracemalloc
from pathlib import Path

from results import write_section  # bench/, the script's own folder

from pulltrace.model import Exchange, Link, Session, SessionSummary, Step, StepKind, Timings, Trace, write_atomically
from pulltrace.render.html import render_html
from pulltrace.render.markdown import render_markdown
from pulltrace.render.text import render_text

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- render:begin -->", "<!-- render:end -->"


def generated_trace(n: int, per_session: int = 2500) -> Trace:
    """n exchanges shaped like real pulls: ping, token, index, manifest, then
    blob redirects and CDN downloads, with headers and JSON bodies."""
    sessions: list[Session] = []
    t0 = 1_700_000_000.0
    made = 0
    while made < n:
        s_no = len(sessions) + 1
        steps: list[Step] = []
        count = min(per_session, n - made)
        for i in range(count):
            xid = f"x{s_no}-{i}"
            at = t0 + made * 0.01
            digest = f"sha256:{(s_no * 1_000_003 + i):064x}"
            cdn_url = f"https://cdn.pulltrace.test/docker/registry/v2/blobs/sha256/{digest[7:9]}/{digest[7:]}/data?verify=…"
            if i == 0:
                kind, url, status = StepKind.PING, "https://hub.pulltrace.test/v2/", 401
            elif i == 1:
                kind, status = StepKind.TOKEN, 200
                url = "https://auth.pulltrace.test/token?scope=repository%3Alibrary%2Fbig%3Apull&service=hub"
            elif i == 2:
                kind, status = StepKind.MANIFEST, 200
                url = "https://hub.pulltrace.test/v2/library/big/manifests/latest"
            elif i % 2 == 1:
                kind, status = StepKind.BLOB_REDIRECT, 307
                url = f"https://hub.pulltrace.test/v2/library/big/blobs/{digest}"
            else:
                kind, url, status = StepKind.CDN_DOWNLOAD, cdn_url, 200
            body: str | None = None
            if i == 0:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
            elif i == 2:
                body = json.dumps(
                    {"schemaVersion": 2, "layers": [{"digest": f"sha256:{k:064x}", "size": k} for k in range(20)]}
                )
            ex = Exchange(
                id=xid, method="GET", url=url, started_at=at, status=status,
                request_headers=[("User-Agent", "docker/24.0.7"), ("Authorization", "Bearer eyJhbGciOiJSUzI1NiIs…"),
                                 ("Accept-Encoding", "gzip")],
                response_headers=[("Content-Type", "application/octet-stream"), ("Content-Length", "1048576"),
                                  ("Docker-Content-Digest", digest), ("Date", "Tue, 14 Nov 2023 22:13:20 GMT")]
                + ([("Location", cdn_url)] if status == 307 else []),
                response_body_preview=body, response_bytes=1_048_576 if status == 200 else 0,
                duration_ms=5.0 + (i % 17), timings=Timings(wait_ms=3.0, receive_ms=2.0),
            )
            links = [Link("follows", f"x{s_no}-{i - 1}")] if kind is StepKind.CDN_DOWNLOAD else (
                [Link("redirects-to", f"x{s_no}-{i + 1}")] if kind is StepKind.BLOB_REDIRECT else [])
            steps.append(Step(ex, kind, i, links=links))
        made += count
        sessions.append(Session(
            f"s{s_no}", client="docker/24.0.7", steps=steps,
            summary=SessionSummary(image=f"hub.pulltrace.test/library/big{s_no}:latest", registry="hub.pulltrace.test",
                                   auth="bearer", layers=count // 2, layers_fetched=count // 2,
                                   bytes=1_048_576 * (count // 2), duration_ms=count * 10.0),
        ))
    return Trace(sessions=sessions, source="bench (generated)", created_at=t0, tool_version="bench")


def measure(fn, *args, **kwargs) -> tuple[float, int, object]:
    """Wall time without tracing, then peak traced memory on a second run."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    fn(*args, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, out


def browser_open_seconds(path: Path) -> tuple[float, int, int] | None:
    """Seconds from navigation to the load event in headless Chromium, if installed."""
    import os
    import sys

    sys.path.insert(0, str(HERE.parent / "tests" / "render"))
    try:
        from cdp import CHROMIUM, Browser
    except ImportError:
        return None
    if not os.access(CHROMIUM, os.X_OK):
        return None
    browser = Browser()
    try:
        page = browser.new_page()
        page.events.clear()
        start = time.perf_counter()
        page.call("Page.navigate", url=path.as_uri())
        page.wait_for("Page.loadEventFired", timeout=120)
        seconds = time.perf_counter() - start
        shown = page.js("document.querySelectorAll('tbody.page').length")
        total = page.js("document.querySelectorAll('tbody.page, template.page-src').length") - shown + \
            page.js("document.querySelectorAll('table.steps').length")
        return seconds, shown, total
    finally:
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    trace = generated_trace(args.exchanges)
    rows = []
    html_size = 0
    views = (
        ("html", render_html, {}),
        ("text", render_text, {}),
        ("text --wide", render_text, {"wide": True}),
        ("markdown", render_markdown, {}),
    )
    for name, fn, kwargs in views:
        seconds, peak, out = measure(fn, trace, **kwargs)
        if name == "html":
            html_size = len(out.encode())
            write_atomically(HERE / "render-10k.html", out) if not args.no_write else None
        rows.append(f"| {name} | {seconds:.2f} s | {peak / 2**20:.0f} MiB | {len(out.encode()) / 2**20:.1f} MiB |")
        print(rows[-1])
    opened = browser_open_seconds(HERE / "render-10k.html") if not args.no_write else None
    if opened is not None:
        print(f"chromium: load event after {opened[0]:.2f} s, {opened[1]} of {opened[2]} pages built")
    section = "\n".join([
        BEGIN,
        "## render (bench/render.py)",
        "",
        f"{args.exchanges:,} generated exchanges in {len(trace.sessions)} sessions; "
        f"{platform.python_implementation()} {platform.python_version()}, 2 shared cores. "
        "Time is one run without tracing; peak is tracemalloc's on a second run.",
        "",
        "| view | time | peak memory | output |",
        "|---|---|---|---|",
        *rows,
        "",
        f"HTML page: {html_size / 2**20:.1f} MiB; its step tables are paged (200 rows a page, the "
        "others wait in `<template>`s until shown), each sequence diagram is cut at 150 steps. Target: HTML <= 5 s.",
        *(
            [
                f"Headless Chromium reaches the load event of that page in {opened[0]:.2f} s and shows "
                f"one page of each step table ({opened[1]} of {opened[2]} pages built; the rest wait in templates)."
            ]
            if opened
            else []
        ),
        END,
    ])
    if not args.no_write:
        write_section(section, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
