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
    assert "https://daocloud.io/v2/busybox/blobs/sha256:5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3" in text
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
