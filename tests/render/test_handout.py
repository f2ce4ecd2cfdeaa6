"""The teaching handout (`--explain`, issue 16) printed by a real browser: headless Chromium
prints the HTML report to an A4 PDF, poppler reads it back. Every explained sentence, every
glossary entry and every step's URL must be in the PDF's text (nothing hidden or cut), and
every word inside the page (nothing running off the right edge). Page images land in
out/handout/ for a human to look at.

Page counts are those of Debian's chromium with the fonts this project's machines have
(DejaVu, WenQuanYi Micro Hei for Chinese): a layout change that adds a page fails here."""

import base64
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cdp import CHROMIUM, FLAGS, Browser

from pulltrace.model import load_trace, write_atomically
from pulltrace.render.explain import explain_session
from pulltrace.render.glossary import BY_ID
from pulltrace.render.html import render_html
from pulltrace.render.rows import trace_view

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PAGES_OUT = ROOT / "out" / "handout"
A4_POINTS = (594.96, 841.92)

pytestmark = [
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason="needs Debian's chromium (apt-get install -y --no-install-recommends chromium)"),
    pytest.mark.skipif(not (shutil.which("pdftotext") and shutil.which("pdfinfo") and shutil.which("pdftoppm")),
                       reason="needs poppler-utils (apt-get install -y --no-install-recommends poppler-utils)"),
]

# (sample, language, pages): a one-session seed, a Chinese one, two sessions, a 15-step loop.
HANDOUTS = [
    ("seeds/003-harbor-pull.json", "en", 4),
    ("seeds/001-dockerhub-alpine.json", "zh", 3),
    ("lab/docker-tiny-plus-after-tiny.json", "en", 6),
    ("lab/pulltrace-pull-loop.json", "zh", 4),
]


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


def _pdf(page, report: Path, out: Path) -> Path:
    page.open(report.as_uri())
    data = page.call("Page.printToPDF", printBackground=True, preferCSSPageSize=True,
                     displayHeaderFooter=False)["data"]
    out.write_bytes(base64.b64decode(data))
    return out


def _info(pdf: Path) -> dict[str, str]:
    text = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _squeezed(text: str) -> str:
    # pdftotext breaks lines where the page did and joins a word broken at its hyphen
    # (WWW-Authenticate); compare without whitespace and hyphens.
    return re.sub(r"[\s-]+", "", text)


def _words(pdf: Path) -> list[tuple[float, float, str]]:
    """(xMin, xMax, text) of every word on every page, in reading order."""
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return [(float(m.group(1)), float(m.group(2)), html.unescape(m.group(3)))
            for m in re.finditer(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>',
                                 bbox)]


def _whole_in_order(text: str, words: list[str], window: int = 60) -> bool:
    """Whether `text` is made of words that follow one another in reading order (other words
    in between): a URL the table broke over several lines, the other columns' words read
    between its pieces, is there whole; a piece cut off the page is not."""
    for i, first in enumerate(words):
        if not first or not text.startswith(first):
            continue
        rest = text[len(first):]
        for word in words[i + 1:i + window]:
            if not rest:
                break
            if word and rest.startswith(word):
                rest = rest[len(word):]
        if not rest:
            return True
    return False


@pytest.mark.parametrize(("sample", "lang", "pages"), HANDOUTS, ids=lambda v: str(v))
def test_handout_prints_on_a4_with_nothing_cut(page, tmp_path, sample, lang, pages):
    trace = load_trace(SAMPLES / sample)
    report = tmp_path / "handout.html"
    write_atomically(report, render_html(trace, lang=lang, explain=True))
    pdf = _pdf(page, report, tmp_path / "handout.pdf")

    info = _info(pdf)
    width, height = (float(x) for x in re.findall(r"[\d.]+", info["Page size"])[:2])
    assert (width, height) == A4_POINTS
    assert int(info["Pages"]) == pages

    words = _words(pdf)
    text = _squeezed(subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                                    text=True).stdout)
    view = trace_view(trace, lang=lang)
    for session, session_view in zip(trace.sessions, view.sessions, strict=True):
        explained = explain_session(session, lang)
        for step in explained.steps:
            for sentence in step.sentences:
                assert _squeezed(sentence) in text, sentence
        for note in explained.notes:
            assert _squeezed(note) in text, note
        for row in session_view.steps:
            assert _whole_in_order(row.url, [w for _, _, w in words]), row.url
        for term in explained.terms:
            assert _squeezed(BY_ID[term].text[lang]) in text, term
    assert [w for x0, x1, w in words if x0 < 0 or x1 > width] == []

    PAGES_OUT.mkdir(parents=True, exist_ok=True)
    stem = PAGES_OUT / f"{Path(sample).stem}.{lang}"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(stem)], check=True)
    assert len(list(PAGES_OUT.glob(f"{stem.name}-*.png"))) == pages


def test_print_flags_of_the_command_line_make_the_same_document(tmp_path):
    """`chromium --headless --print-to-pdf` (what a teacher runs) honours the report's A4 page."""
    report = tmp_path / "seed000.html"
    write_atomically(report, render_html(load_trace(SAMPLES / "seeds/000-daocloud-busybox.json"), explain=True))
    pdf = tmp_path / "seed000.pdf"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", report.as_uri()], check=True, capture_output=True, timeout=120)
    info = _info(pdf)
    assert info["Page size"].startswith("594.96 x 841.92")
    assert int(info["Pages"]) == 2


def test_the_toggle_hides_and_shows_the_sentences(page, tmp_path):
    report = tmp_path / "hub.html"
    write_atomically(report, render_html(load_trace(SAMPLES / "seeds/001-dockerhub-alpine.json"), explain=True))
    page.open(report.as_uri())
    assert page.problems() == []
    shown = "[...document.querySelectorAll('p.explain')].filter(p => p.offsetParent !== null).length"
    assert page.js(shown) == 6
    page.js("document.getElementById('explain-toggle').click()")
    assert page.js(shown) == 0
    page.js("document.getElementById('explain-toggle').click()")
    assert page.js(shown) == 6
    # A term link jumps to its glossary entry.
    page.js("document.querySelector('p.explain a[href=\"#term-realm\"]').click()")
    assert page.js("location.hash") == "#term-realm"


def _explained_reports() -> list[Path]:
    return sorted((ROOT / "reports" / "explained").glob("*.html"))


@pytest.mark.parametrize("report", _explained_reports(), ids=lambda p: p.stem)
def test_explained_gallery_report_opens_without_errors(page, report):
    page.open(report.as_uri())
    assert page.problems() == []
    if report.stem != "index":
        assert page.js("document.querySelectorAll('#glossary dt').length") > 0
        assert page.js("document.querySelectorAll('ol.story li').length") == page.js(
            "document.querySelectorAll('tr.step').length")
