import pytest
from render_factory import hostile_trace, hub_alpine_trace, seed000_trace

from pulltrace.model import Trace
from pulltrace.render.fmt import display_width
from pulltrace.render.text import render_text


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("make", [seed000_trace, hub_alpine_trace, hostile_trace])
def test_narrow_output_fits_80_columns(make, lang):
    text = render_text(make(), lang=lang)
    too_wide = [line for line in text.splitlines() if display_width(line) > 80]
    assert too_wide == []


def test_narrow_table_keeps_kinds_statuses_and_digests():
    text = render_text(seed000_trace())
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#  "))
    table = lines[header + 2 : header + 7]
    assert [line.split()[0] for line in table] == ["1", "2", "3", "4", "5"]
    assert "ping" in table[0] and "401" in table[0]
    assert "blob redirect" in table[3] and "307" in table[3] and "sha256:5b0d5902" in table[3]
    assert "CDN download" in table[4]


def test_wide_output_carries_full_urls_and_links():
    text = render_text(seed000_trace(), wide=True)
    digest = "sha256:5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3"
    assert f"https://daocloud.io/v2/busybox/blobs/{digest}" in text
    assert "redirects to #5" in text and "307 Temporary Redirect" in text


def test_chinese_labels():
    text = render_text(hub_alpine_trace(), lang="zh")
    for label in ("会话 1", "类型", "请求", "清单列表", "诊断", "原因", "解决办法"):
        assert label in text


def test_findings_are_listed_with_their_steps():
    text = render_text(hub_alpine_trace())
    assert "- [info] Docker Hub pull limit reported (#3)" in text
    assert "Fix: Log in, or pull through a mirror." in text


def test_empty_trace():
    assert render_text(Trace()) == "This trace holds no sessions.\n"


# What a hostile registry puts on the wire to take over a terminal: an OSC title, a
# screen clear, a carriage return and backspace to overwrite, an 8-bit CSI, a bidi override.
CONTROL = "\x1b]0;owned\x07\x1b[2J\r\x08\x9b31m\u202e"
RAW = ("\x1b", "\x07", "\r", "\x08", "\x9b", "\u202e")


def _terminal_hostile_trace() -> Trace:
    from render_factory import ex

    from pulltrace.model import Finding, Session, SessionSummary, Severity, Step, StepKind

    e = ex(1, "GET", f"https://evil.test/v2/x{CONTROL}/manifests/latest", 404, at=0, ms=5, reason=CONTROL,
           resp=[("Content-Type", f"application/json{CONTROL}")], body='{"errors": []}')
    summary = SessionSummary(image=f"evil.test/x{CONTROL}", registry="evil.test", errors=[CONTROL])
    finding = Finding("evil", Severity.ERROR, f"title{CONTROL}", f"cause{CONTROL}", f"fix{CONTROL}", ["x1"])
    session = Session("s1", client=CONTROL, steps=[Step(e, StepKind.ERROR, 0)], summary=summary, findings=[finding])
    return Trace(sessions=[session], source=f"source{CONTROL}", notes=[f"note{CONTROL}"])


@pytest.mark.parametrize("wide", [False, True])
def test_control_bytes_from_the_wire_are_shown_escaped(wide):
    text = render_text(_terminal_hostile_trace(), wide=wide)
    assert [c for c in RAW if c in text] == []
    assert "\\x1b]0;owned\\x07\\x1b[2J\\r\\x08\\x9b31m\\u202e" in text
    assert "source\\x1b" in text and "note\\x1b" in text and "cause\\x1b" in text
    if not wide:
        assert [line for line in text.splitlines() if display_width(line) > 80] == []


def test_diff_text_escapes_control_bytes_too():
    from pulltrace.render.diff import diff_traces
    from pulltrace.render.diff_render import render_diff_text

    text = render_diff_text(diff_traces(_terminal_hostile_trace(), seed000_trace()))
    assert [c for c in RAW if c in text] == []
