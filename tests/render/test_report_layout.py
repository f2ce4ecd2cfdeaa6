"""The HTML report where readers open it: a dark desktop, a phone, a printer, a report of
several pulls, a filter that finds nothing. Emulated through the DevTools protocol in a
real headless Chromium; screenshots land in out/screenshots/layout-*.png for a human."""

import os
from pathlib import Path

import pytest
from cdp import CHROMIUM, Browser
from render_factory import hub_alpine_trace, seed000_trace

from pulltrace.model import write_atomically
from pulltrace.render.html import render_html

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="needs Debian's chromium (apt-get install -y --no-install-recommends chromium)",
)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def page(browser):
    p = browser.new_page()
    yield p
    p.ws.close()


def _two_pulls(tmp_path, lang="en") -> Path:
    trace = seed000_trace()
    trace.sessions += hub_alpine_trace().sessions
    path = tmp_path / f"two-{lang}.html"
    write_atomically(path, render_html(trace, lang=lang))
    return path


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"layout-{name}.png"
    page.screenshot(path, full=True)
    assert path.stat().st_size > 10_000
    return path


def _dark(page, on: bool) -> None:
    features = [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]
    page.call("Emulation.setEmulatedMedia", media="", features=features)


def _type(page, text: str) -> None:
    page.js(
        f"{{ const f = document.getElementById('filter'); f.value = {text!r};"
        " f.dispatchEvent(new Event('input')); }"
    )
    page.js("new Promise(r => setTimeout(r, 400))")


# WCAG 2 contrast of each element's text against the first opaque background behind it.
_CONTRAST = """
(() => {
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = {};
  for (const sel of SELECTORS) {
    for (const el of document.querySelectorAll(sel)) {
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      worst[sel] = Math.min(worst[sel] ?? 99, Math.round(ratio * 10) / 10);
    }
  }
  return worst;
})()
"""
_READ = ["body", "h1", "h2", ".meta", "td.req .url", ".kh", ".badge", ".status", "a.link",
         "dl.summary dt", ".finding .sev", "nav.index a", "th"]


def test_dark_mode_is_dark_and_readable(page, tmp_path):
    page.open(_two_pulls(tmp_path).as_uri())
    try:
        _dark(page, True)
        assert page.js("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
        assert page.js("getComputedStyle(document.body).color") == "rgb(230, 237, 243)"
        assert page.js("getComputedStyle(document.querySelector('.seq-scroll')).backgroundColor") == "rgb(13, 17, 23)"
        worst = page.js(_CONTRAST.replace("SELECTORS", repr(_READ)))
        assert set(worst) == set(_READ)
        assert {sel: r for sel, r in worst.items() if r < 4.5} == {}
        _shot(page, "dark")
    finally:
        _dark(page, False)
    assert page.js("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    assert {sel: r for sel, r in page.js(_CONTRAST.replace("SELECTORS", repr(_READ))).items() if r < 4.5} == {}
    assert page.problems() == []


def test_print_stays_light_on_a_dark_screen_and_keeps_every_column(page, tmp_path):
    page.open(_two_pulls(tmp_path).as_uri())
    page.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    features = [{"name": "prefers-color-scheme", "value": "dark"}]
    page.call("Emulation.setEmulatedMedia", media="print", features=features)
    try:
        assert page.js("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        assert page.js("getComputedStyle(document.querySelector('td.resp')).display") == "table-cell"
        assert page.js("getComputedStyle(document.querySelector('td.wf')).display") == "table-cell"
        assert page.js("getComputedStyle(document.querySelector('a.to-index')).display") == "none"
    finally:
        page.call("Emulation.setEmulatedMedia", media="")
        page.call("Emulation.clearDeviceMetricsOverride")


def test_several_pulls_get_a_table_of_contents(page, tmp_path):
    page.open(_two_pulls(tmp_path).as_uri())
    assert page.js("[...document.querySelectorAll('nav.index tbody tr')].map(r => r.cells[1].textContent)") == [
        "daocloud.io/busybox:latest", "docker.io/library/alpine:latest",
    ]
    page.js("document.querySelector('nav.index a[href=\"#s2\"]').click()")
    assert page.js("location.hash") == "#s2"
    assert -1 < page.js("document.getElementById('s2').getBoundingClientRect().top") < 1  # its heading on top
    # Each pull leads back to the contents.
    assert page.js("[...document.querySelectorAll('a.to-index')].map(a => a.getAttribute('href'))") == [
        "#index", "#index",
    ]
    page.js("document.querySelector('#s2 a.to-index').click()")
    assert page.js("location.hash") == "#index"
    assert -1 < page.js("document.getElementById('index').getBoundingClientRect().top") < 1
    _shot(page, "contents")
    assert page.problems() == []


def test_one_pull_has_no_table_of_contents(page, tmp_path):
    path = tmp_path / "one.html"
    write_atomically(path, render_html(seed000_trace()))
    page.open(path.as_uri())
    assert page.js("document.querySelectorAll('nav.index, a.to-index').length") == 0


def test_filter_counts_matches_and_says_when_none(page, tmp_path):
    page.open(_two_pulls(tmp_path).as_uri())
    count = "document.getElementById('filter-count')"
    assert page.js(f"{count}.hidden") is True
    _type(page, "cloudflare")  # hub's CDN: the redirect (Location) and the download
    assert page.js(f"{count}.textContent") == "2 of 11 steps shown"
    assert page.js(f"{count}.hidden") is False
    # The busybox pull has no such step and says so; the alpine pull shows its two.
    assert page.js("[...document.querySelectorAll('p.no-match')].map(p => p.hidden ? '' : p.textContent)") == [
        "No step matches “cloudflare”.", "",
    ]
    _shot(page, "filter")
    _type(page, "no-such-thing")
    assert page.js(f"{count}.textContent") == "0 of 11 steps shown"
    assert page.js("[...document.querySelectorAll('p.no-match')].filter(p => !p.hidden).length") == 2
    assert page.js("[...document.querySelectorAll('tr.step')].filter(r => r.offsetParent !== null).length") == 0
    _shot(page, "no-match")
    _type(page, "")
    assert page.js(f"{count}.hidden") is True
    assert page.js("[...document.querySelectorAll('p.no-match')].filter(p => !p.hidden).length") == 0
    assert page.js("[...document.querySelectorAll('tr.step')].filter(r => r.offsetParent !== null).length") == 11
    assert page.problems() == []


def test_filter_messages_in_chinese(page, tmp_path):
    page.open(_two_pulls(tmp_path, lang="zh").as_uri())
    _type(page, "no-such-thing")
    assert page.js("document.getElementById('filter-count').textContent") == "显示 0 / 11 个步骤"
    assert page.js("document.querySelector('p.no-match').textContent") == "没有步骤匹配“no-such-thing”。"


def test_phone_width_keeps_the_status_column_on_screen(page, tmp_path):
    page.open(_two_pulls(tmp_path).as_uri())
    page.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    try:
        page.js("new Promise(r => setTimeout(r, 200))")
        assert page.js("innerWidth") == 390
        # Every status and time cell ends inside the screen: nothing to scroll sideways for.
        off = page.js(
            "[...document.querySelectorAll('tr.step td.st, tr.step td.num:not(.size)')]"
            ".filter(td => td.getBoundingClientRect().right > innerWidth).length"
        )
        assert off == 0
        assert page.js("[...document.querySelectorAll('tr.step td.st')].map(td => td.textContent.trim())") == [
            "401", "200", "200", "307", "200", "401", "200", "200", "200", "307", "200",
        ]
        assert page.js("document.querySelector('.table-wrap').scrollWidth <= 390") is True
        assert page.js("getComputedStyle(document.querySelector('td.resp')).display") == "none"
        _shot(page, "phone")
        _dark(page, True)
        _shot(page, "phone-dark")
    finally:
        _dark(page, False)
        page.call("Emulation.clearDeviceMetricsOverride")
    assert page.js("getComputedStyle(document.querySelector('td.resp')).display") == "table-cell"
    assert page.problems() == []


def test_diff_page_is_readable_in_dark_mode(page, tmp_path):
    from pulltrace.render.diff import diff_traces
    from pulltrace.render.diff_render import render_diff_html

    b = seed000_trace()
    del b.sessions[0].steps[0]
    failed = b.sessions[0].steps[2].exchange
    failed.status, failed.reason = 404, "Not Found"
    path = tmp_path / "diff.html"
    write_atomically(path, render_diff_html(diff_traces(seed000_trace(), b)))
    page.open(path.as_uri())
    try:
        _dark(page, True)
        rows = ["tr.diff-only-a td", "tr.diff-changed td", "tr.diff-same td", "table.diff .badge", "td.status"]
        worst = page.js(_CONTRAST.replace("SELECTORS", repr(rows)))
        assert set(worst) == set(rows)
        assert {sel: r for sel, r in worst.items() if r < 4.5} == {}
        assert page.js("getComputedStyle(document.querySelector('tr.diff-only-a td')).backgroundColor") == (
            "rgb(61, 20, 23)"
        )
        _shot(page, "diff-dark")
    finally:
        _dark(page, False)
    assert page.problems() == []


# Every visible text outside the diagrams (the SVG draws on its own lane colours) whose
# contrast with the background behind it is below 4.5:1, as "tag.class ratio".
_LOW_CONTRAST = _CONTRAST.replace(
    "for (const sel of SELECTORS) {\n    for (const el of document.querySelectorAll(sel)) {",
    "for (const sel of ['text']) {\n    for (const el of [...document.querySelectorAll('body *')].filter(e =>"
    " e.offsetParent !== null && !e.closest('svg')"
    " && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))) {",
).replace(
    "worst[sel] = Math.min(worst[sel] ?? 99, Math.round(ratio * 10) / 10);",
    "if (ratio < 4.5) worst[el.tagName.toLowerCase() + '.' + el.className] = Math.round(ratio * 10) / 10;",
)


@pytest.mark.parametrize("report", sorted((ROOT / "reports").glob("*.html")), ids=lambda p: p.stem)
def test_every_gallery_report_reads_at_aa_contrast_in_both_modes(page, report):
    page.open(report.as_uri())
    try:
        for dark in (True, False):
            _dark(page, dark)
            assert page.js(_LOW_CONTRAST) == {}, "dark" if dark else "light"
    finally:
        _dark(page, False)
