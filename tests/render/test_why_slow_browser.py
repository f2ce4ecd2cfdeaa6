"""The HTML report's "why slow" section in a real browser (headless Chromium over the DevTools
protocol), on docker pulls of the lab's slow image recorded through mitmdump: the cold pull's
slow layer is highlighted with the host that served it and its cache's MISS, on screen, in dark
mode and in print; the warm pull shows every layer as a HIT and highlights nothing."""

import os
from pathlib import Path

import pytest
from cdp import CHROMIUM, Browser

from pulltrace.model import load_trace, write_atomically
from pulltrace.render.html import render_html

DATA = Path(__file__).resolve().parents[1] / "data" / "speed"
EDGE = "edge.pulltrace.test"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="needs Debian's chromium (apt-get install -y --no-install-recommends chromium)",
)

ROWS = """[...document.querySelectorAll('#s1-why-slow tr.delivery')].map(r => [
    r.classList.contains('flagged'),
    r.querySelector('td.blob').firstChild.textContent.trim(),
    [...r.querySelectorAll('.flag')].map(f => f.textContent),
    r.querySelector('td.host').firstChild.textContent,
    r.querySelector('td.cache .verdict').textContent])"""


@pytest.fixture(scope="module")
def page():
    b = Browser()
    p = b.new_page()
    yield p
    p.ws.close()
    b.close()


def _open(page, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.html"
    write_atomically(path, render_html(load_trace(DATA / f"{name}.json")))
    page.open(path.as_uri())
    assert page.problems() == []


def _background(page, row: int) -> str:
    return page.js(f"getComputedStyle(document.querySelectorAll('#s1-why-slow tr.delivery')[{row}]"
                   ".querySelector('td')).backgroundColor")


def test_the_cold_pulls_slow_layer_is_highlighted_with_its_host_and_cache(page, tmp_path):
    _open(page, tmp_path, "docker-slow-cold")
    miss = "MISS (cache-lab-edge1)"
    assert page.js(ROWS) == [
        [False, "config", [], EDGE, miss],
        [True, "layer 2/3", ["slow", "cache miss"], EDGE, miss],
        [False, "layer 1/3", [], EDGE, miss],
        [False, "layer 3/3", [], EDGE, miss],
    ]
    flagged = "document.querySelector('#s1-why-slow tr.flagged')"
    assert page.js(f"{flagged}.querySelector('.digest').textContent") == (
        "sha256:69db334cdc5e5298ee94f47d4ceab73e05ab122bf8d41f14e42bb06cd01f28e6")
    # The doctor's two findings are the row's tooltip; its time went to the transfer. mitmproxy set its
    # connection up at CONNECT time, so the connect and TLS are said apart, not drawn in the bar.
    assert page.js(f"{flagged}.title").startswith("layer 2/3 (69db334cdc5e) came 57× slower than the other layers")
    assert page.js(f"[...{flagged}.querySelectorAll('.phases span')].map(s => s.textContent)") == [
        "Wait 90 ms", "Transfer 3.14 s"]
    assert page.js(f"{flagged}.querySelector('.ph-transfer').style.width") == "97.2%"
    assert page.js(f"{flagged}.querySelector('.early').textContent") == (
        "connection set up before the request (connect 40 ms, TLS 106 ms): not part of its time")
    # Visible on screen, and the highlight is the page's highlight colour, unlike its neighbours.
    assert page.js("document.getElementById('s1-why-slow').getBoundingClientRect().height") > 100
    assert (_background(page, 1), _background(page, 2)) == ("rgb(255, 248, 197)", "rgba(0, 0, 0, 0)")


def test_dark_mode_and_print_keep_the_highlight(page, tmp_path):
    _open(page, tmp_path, "docker-slow-cold")
    page.call("Emulation.setEmulatedMedia", media="", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    try:
        assert _background(page, 1) == "rgb(59, 46, 0)"
        assert page.js("getComputedStyle(document.querySelector('#s1-why-slow tr.flagged .verdict')).color") == (
            "rgb(210, 153, 34)")
    finally:
        page.call("Emulation.setEmulatedMedia", media="", features=[])
    page.call("Emulation.setEmulatedMedia", media="print")
    try:
        assert page.js("document.getElementById('s1-why-slow').open") is True
        assert page.js("[...document.querySelectorAll('#s1-why-slow tr.delivery')]"
                       ".filter(r => r.getBoundingClientRect().height > 0).length") == 4
        assert _background(page, 1) == "rgb(255, 248, 197)"  # print keeps the light page
    finally:
        page.call("Emulation.setEmulatedMedia", media="")


def test_the_warm_pull_shows_every_layer_as_a_hit_and_highlights_nothing(page, tmp_path):
    _open(page, tmp_path, "docker-slow-warm")
    rows = page.js(ROWS)
    assert sorted(r[1] for r in rows) == ["config", "layer 1/3", "layer 2/3", "layer 3/3"]
    assert {(r[0], tuple(r[2]), r[3], r[4]) for r in rows} == {(False, (), EDGE, "HIT (cache-lab-edge1)")}
