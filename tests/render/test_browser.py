"""The reports in a real browser (headless Chromium over the DevTools protocol):
no console errors, collapsibles open, links jump, hostile markup stays inert.
Screenshots land in out/screenshots/ for a human to judge readability."""

import os
from pathlib import Path

import pytest
from cdp import CHROMIUM, Browser
from render_factory import hostile_trace, seed000_trace

from devtools import gallery
from pulltrace.model import write_atomically
from pulltrace.render.html import PAGE_SIZE, render_html

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


@pytest.fixture(scope="module")
def page(browser):
    p = browser.new_page()
    yield p
    p.ws.close()


def _reports() -> list[Path]:
    return sorted(gallery.REPORTS.glob("*.html"))


@pytest.mark.parametrize("report", _reports(), ids=lambda p: p.stem)
def test_gallery_report_opens_without_errors(page, report):
    page.open(report.as_uri())
    assert page.problems() == []
    assert page.js("document.querySelectorAll('script').length") == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(SHOTS / f"{report.stem}.png", full=True)
    assert (SHOTS / f"{report.stem}.png").stat().st_size > 10_000


def _seed000(tmp_path) -> Path:
    path = tmp_path / "seed000.html"
    write_atomically(path, render_html(seed000_trace()))
    return path


def test_collapsibles_open_and_close(page, tmp_path):
    page.open(_seed000(tmp_path).as_uri())
    assert page.js("[...document.querySelectorAll('details.full')].filter(d => d.open).length") == 0
    page.js("document.querySelector('#s1-3-details > summary').click()")
    assert page.js("document.getElementById('s1-3-details').open") is True
    height = page.js("document.querySelector('#s1-3-details pre.body').getBoundingClientRect().height")
    assert height > 50  # the pretty-printed manifest is visible
    page.js("document.getElementById('expand-all').click()")
    assert page.js("[...document.querySelectorAll('details.full')].every(d => d.open)") is True
    page.js("document.getElementById('collapse-all').click()")
    assert page.js("[...document.querySelectorAll('details.full')].some(d => d.open)") is False
    assert page.problems() == []


def test_links_jump_to_their_step(page, tmp_path):
    page.open(_seed000(tmp_path).as_uri())
    page.js("window.scrollTo(0, 0)")
    page.js("[...document.querySelectorAll('a.link')].find(a => a.getAttribute('href') === '#s1-5').click()")
    assert page.js("location.hash") == "#s1-5"
    top = page.js("document.getElementById('s1-5').getBoundingClientRect().top")
    assert 0 <= top < page.js("innerHeight")
    # An arrow of the sequence diagram jumps to its row too.
    page.js("window.scrollTo(0, 0)")
    page.js(
        "document.querySelector('svg a.msg[href=\"#s1-4\"]')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    assert page.js("location.hash") == "#s1-4"
    assert page.problems() == []


def test_long_tables_page_and_links_reveal_hidden_pages(page, tmp_path):
    trace = seed000_trace()
    steps = trace.sessions[0].steps
    trace.sessions[0].steps = [steps[i % len(steps)] for i in range(PAGE_SIZE * 2 + 5)]
    path = tmp_path / "long.html"
    write_atomically(path, render_html(trace))
    page.open(path.as_uri())
    shown = "[...document.querySelectorAll('tbody.page')].filter(t => !t.hidden).map(t => t.dataset.page)"
    # Later pages wait in templates; only the first is built.
    assert page.js("document.querySelectorAll('tbody.page').length") == 1
    assert page.js(shown) == ["1"]
    assert page.js("document.querySelectorAll('nav.pager button').length") == 3
    page.js("document.querySelector('nav.pager button[data-page=\"2\"]').click()")
    assert page.js(shown) == ["2"]
    page.open("about:blank")  # a new load, not a jump within the page
    page.open(path.as_uri() + f"#s1-{PAGE_SIZE * 2 + 3}")
    assert page.js(shown) == ["3"]
    top = page.js(f"document.getElementById('s1-{PAGE_SIZE * 2 + 3}').getBoundingClientRect().top")
    assert 0 <= top < page.js("innerHeight")
    # The filter searches every page.
    page.js(
        "const f = document.getElementById('filter'); f.value = 'temporary redirect';"
        " f.dispatchEvent(new Event('input'))"
    )
    page.js("new Promise(r => setTimeout(r, 400))")
    visible = page.js("[...document.querySelectorAll('tr.step')].filter(r => r.offsetParent !== null).length")
    assert visible == len([i for i in range(PAGE_SIZE * 2 + 5) if i % len(steps) == 3])
    assert page.problems() == []


def test_hostile_report_stays_inert(page, tmp_path):
    path = tmp_path / "hostile.html"
    write_atomically(path, render_html(hostile_trace()))
    page.open(path.as_uri())
    page.js("document.getElementById('expand-all').click()")
    page.js("new Promise(r => setTimeout(r, 200))")
    assert page.problems() == []  # an alert() would open a dialog
    assert page.js("document.querySelectorAll('script').length") == 1
    assert page.js("document.querySelectorAll('img, iframe, svg script, svg foreignObject').length") == 0
    assert page.js(
        "[...document.querySelectorAll('*')].some(e => [...e.attributes].some(a => a.name.startsWith('on')))"
    ) is False
    assert "<script>alert(1)</script>" in page.js("document.querySelector('h2').textContent")


def test_print_layout_hides_controls_and_shows_every_page(page, tmp_path):
    trace = seed000_trace()
    steps = trace.sessions[0].steps
    trace.sessions[0].steps = [steps[i % len(steps)] for i in range(PAGE_SIZE + 5)]
    path = tmp_path / "print.html"
    write_atomically(path, render_html(trace))
    page.open(path.as_uri())
    page.call("Emulation.setEmulatedMedia", media="print")
    try:
        assert page.js("getComputedStyle(document.querySelector('.controls')).display") == "none"
        page.js("window.dispatchEvent(new Event('beforeprint'))")
        assert page.js("document.querySelectorAll('tbody.page').length") == 2
        assert page.js("getComputedStyle(document.querySelectorAll('tbody.page')[1]).display") == "table-row-group"
    finally:
        page.call("Emulation.setEmulatedMedia", media="")


def test_the_error_detector_sees_errors(page, tmp_path):
    """So that an empty problems() above means something."""
    path = tmp_path / "broken.html"
    path.write_text(
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">"
        "<body><script>console.error('x')</script></body>"
    )
    page.open(path.as_uri())
    assert any("Content Security Policy" in p for p in page.problems())
    path.write_text("<!DOCTYPE html><body><script>console.error('boom'); null.x;</script></body>")
    page.open(path.as_uri())
    problems = page.problems()
    assert any("console.error" in p and "boom" in p for p in problems)
    assert any(p.startswith("exception:") for p in problems)


# Measured with the browser's own font: every request label ends before the arrowhead
# of its own arrow, every response label clears both arrowheads, every lane name fits
# its box. Returns the offending labels.
_OVERLAPS = """
[...document.querySelectorAll('svg.sequence')].flatMap(svg => {
  const bad = [];
  for (const m of svg.querySelectorAll('a.msg')) {
    const req = m.querySelector('line.req'), x1 = +req.getAttribute('x1'), x2 = +req.getAttribute('x2');
    const q = m.querySelector('.req-label').getBBox(), r = m.querySelector('.resp-label').getBBox();
    if (q.x + q.width > x2 - 10) bad.push('request over arrowhead: ' + m.querySelector('.req-label').textContent);
    if (r.x + r.width > x2 - 10 || r.x < x1 + 10)
      bad.push('response over arrowhead: ' + m.querySelector('.resp-label').textContent);
  }
  for (const lane of svg.querySelectorAll('g.lane')) {
    const box = lane.querySelector('rect').getBBox();
    for (const t of lane.querySelectorAll('text')) {
      const b = t.getBBox();
      if (b.x < box.x || b.x + b.width > box.x + box.width) bad.push('lane text cut: ' + t.textContent);
    }
  }
  return bad;
})
"""


@pytest.mark.parametrize("report", _reports(), ids=lambda p: p.stem)
def test_diagram_labels_clear_the_arrowheads(page, report):
    page.open(report.as_uri())
    assert page.js(_OVERLAPS) == []
