"""The "why slow" section: rows built from recorded pulls, and the terminal and Markdown tables
that show them (a long CDN host loses whole leading labels, never a fragment of one)."""

from __future__ import annotations

from pathlib import Path

from pulltrace.model import load_trace
from pulltrace.render.fmt import display_width
from pulltrace.render.markdown import render_markdown
from pulltrace.render.rows import anchor_map
from pulltrace.render.speed import delivery_rows
from pulltrace.render.text import render_text

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def section(text: str, head: str) -> list[str]:
    """The lines from `head` to the blank line that ends its table (a Markdown heading's own
    blank line is skipped)."""
    lines = text.splitlines()
    start = lines.index(head)
    end = lines.index("", start + 2)
    return [line for line in lines[start:end] if line]


def test_rows_name_host_redirect_cache_and_throughput():
    trace = load_trace(SAMPLES / "seeds" / "001-dockerhub-alpine.json")
    (row,) = delivery_rows(trace.sessions[0], anchor_map(trace))
    assert (row.number, row.anchor, row.blob, row.host, row.redirected_from) == (
        6, "s1-6", "config", "production.cloudflare.docker.com", "registry-1.docker.io")
    assert (row.cache, row.cache_headers) == ("HIT (HKG)", "cf-cache-status: HIT · cf-ray: 5c59fe3f5d61258d-HKG · "
                                                           "age: 2277324")
    assert (row.size, row.time, row.throughput, row.transfer) == ("1.5 KiB", "80 ms", "36.8 KiB/s", "")


def test_chinese_rows():
    trace = load_trace(SAMPLES / "seeds" / "001-quay-alpine-curl.json")
    assert [(r.blob, r.cache) for r in delivery_rows(trace.sessions[0], anchor_map(trace), lang="zh")] == [
        ("层 2/2", "未命中"), ("配置", "未命中")]


def test_wide_text_shows_the_time_split_recorded_by_the_proxy():
    trace = load_trace(SAMPLES / "lab" / "docker-hub-multi.json")
    lines = section(render_text(trace, wide=True), "Why slow:")
    assert lines[1].split() == ["#", "Blob", "Served", "by", "Redirected", "from", "Cache", "Size", "Time", "Connect",
                                "TLS", "Wait", "Transfer", "Throughput", "Cache", "headers"]
    # mitmproxy connected at CONNECT time (eager): the 2 ms connect and 4 ms TLS were before the request.
    assert lines[3].split() == ["8", "layer", "1/1", "cdn.pulltrace.test", "hub.pulltrace.test", "no", "cache",
                                "headers", "679", "B", "8", "ms", "2", "ms", "before", "the", "request", "4", "ms",
                                "before", "the", "request", "2", "ms", "1", "ms", "550.7", "KiB/s"]


def test_narrow_text_drops_whole_host_labels_and_wraps_whole_words():
    trace = load_trace(SAMPLES / "lab" / "docker-gcr-three.json")
    long_host = "production-eu-west-7.cloudflare-storage.registry.docker.example.com"
    for step in trace.sessions[0].steps:
        if step.kind.value == "cdn-download":
            step.exchange.url = step.exchange.url.replace("cdn.pulltrace.test", long_host)
            step.exchange.response_headers.append(("Cf-Cache-Status", "DYNAMIC"))
    lines = section(render_text(trace), "Why slow:")
    assert max(display_width(line) for line in lines) <= 80
    assert lines[3].split() == ["9", "layer", "1/3", "….registry.docker.example.com", "not", "17", "ms", "89.9",
                                "KiB/s"]
    assert lines[4].split() == ["cached"]


def test_markdown_section_links_each_step():
    md = render_markdown(load_trace(SAMPLES / "seeds" / "001-quay-alpine-curl.json"))
    lines = section(md, "### Why slow")
    assert lines[1] == ("| Blob | Step | Served by | Cache | Size | Time | Connect | TLS | Wait | Transfer "
                        "| Throughput |")
    assert lines[3] == ("| layer 2/2 | [6](#s1-6) | cdn02.quay.io<br>← quay.io | MISS<br>x-cache: Miss from cloudfront "
                        "| 672.8 KiB | 940 ms |  |  |  |  | 747.6 KiB/s |")


def test_a_pull_that_downloaded_nothing_has_no_section():
    trace = load_trace(SAMPLES / "lab" / "doctor-alice-denied.json")
    assert "Why slow" not in render_text(trace) and "Why slow" not in render_markdown(trace)


def test_a_source_without_response_headers_says_the_cache_was_not_recorded():
    trace = load_trace(SAMPLES / "lab" / "docker-hub-multi.json")
    for step in trace.sessions[0].steps:
        step.exchange.response_headers = []  # as an access log records it
    assert {r.cache for r in delivery_rows(trace.sessions[0], anchor_map(trace))} == {"not recorded"}


def test_every_step_row_carries_its_throughput():
    from pulltrace.render.rows import step_rows

    session = load_trace(SAMPLES / "lab" / "docker-hub-multi.json").sessions[0]
    rows = step_rows(session)
    assert [(r.kind, r.throughput) for r in rows if r.kind == "cdn-download"] == [
        ("cdn-download", "550.7 KiB/s"), ("cdn-download", "567.5 KiB/s")]
    assert rows[0].throughput == "190.1 KiB/s"  # the 87-byte 401 of the ping, over its 0.447 ms receive phase
