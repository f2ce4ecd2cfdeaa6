from html.parser import HTMLParser

import pytest
from render_factory import PAYLOAD, hostile_trace, hub_alpine_trace, seed000_trace

from pulltrace.model import Trace
from pulltrace.render.html import PAGE_SIZE, asset, environment, render_html, script_hash


class Page(HTMLParser):
    """Every element, attribute and text node of a page, as a browser tokenises them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if a.get("id")}


def test_hostile_registry_answers_render_inert():
    html = render_html(hostile_trace())
    page = Page(html)
    # The only script is the report's own, byte for byte.
    assert page.scripts == [asset("report.js")]
    for tag, attrs in page.tags:
        assert tag not in ("img", "iframe", "object", "embed"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:")
    assert PAYLOAD not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_hostile_text_inside_the_svg_is_escaped():
    html = render_html(hostile_trace())
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "<script" not in svg and "onerror=" not in svg.replace("onerror=alert", "")
    assert "&lt;script&gt;" in svg or "&lt;img" in svg


def test_content_security_policy_allows_only_the_own_script():
    html = render_html(seed000_trace())
    js = asset("report.js")
    assert f"script-src '{script_hash(js)}'" in html
    assert "default-src 'none'" in html


def test_self_contained():
    page = Page(render_html(hub_alpine_trace()))
    for tag, attrs in page.tags:
        if tag in ("script", "img", "link", "iframe"):
            assert not attrs.get("src") and tag != "link", (tag, attrs)
        href = attrs.get("href") or ""
        assert not href.startswith(("http:", "https:", "//")), href


def test_every_link_jumps_to_an_element_of_the_page():
    trace = seed000_trace()
    trace.sessions += hub_alpine_trace().sessions
    page = Page(render_html(trace))
    ids = page.ids()
    hrefs = [a["href"] for _, a in page.tags if (a.get("href") or "").startswith("#")]
    assert hrefs
    assert [h for h in hrefs if h[1:] not in ids] == []
    # A redirect links to its CDN download; the token links to its challenge.
    assert "#s1-5" in hrefs and "#s2-1" in hrefs
    # Several sessions get an index.
    assert "index" in ids


def test_step_table_has_collapsible_details_and_key_headers():
    html = render_html(seed000_trace())
    page = Page(html)
    details = [a for t, a in page.tags if t == "details" and "full" in (a.get("class") or "")]
    assert len(details) == 5
    key_rows = [a for t, a in page.tags if t == "tr" and a.get("class") == "key"]
    assert len(key_rows) >= 5
    assert "&#34;UNAUTHORIZED&#34;" in html or '"UNAUTHORIZED"' in html  # pretty JSON body
    assert '<span class="badge k-blob-redirect">blob redirect</span>' in html


def test_long_sessions_are_paged():
    trace = seed000_trace()
    steps = trace.sessions[0].steps
    trace.sessions[0].steps = [steps[i % len(steps)] for i in range(PAGE_SIZE * 2 + 1)]
    html = render_html(trace)
    assert html.count('<tbody class="page"') == 3
    assert "first 150 of 401 steps" in html


def test_chinese_page():
    html = render_html(seed000_trace(), lang="zh")
    assert '<html lang="zh">' in html and "时序图" in html and "步骤" in html


def test_environment_autoescapes_every_template_name():
    env = environment()
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def test_empty_trace_and_unknown_language():
    assert "This trace holds no sessions." in render_html(Trace())
    with pytest.raises(ValueError):
        render_html(Trace(), lang="xx")


def test_token_claims_are_shown_with_the_token_response():
    trace = seed000_trace()
    trace.sessions[0].steps[1].exchange.token_claims = {"access": [{"name": "busybox", "actions": ["pull"]}]}
    html = render_html(trace)
    assert "Token claims (decoded, unverified)" in html and "&#34;actions&#34;" in html
