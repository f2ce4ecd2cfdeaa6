"""The "why slow" rows on a recorded cold docker pull of the lab's slow image: the row the doctor's
speed findings name carries their marks, its digest, its cache verdict and its time split, and the
terminal, Markdown and HTML views all show that mark on that row."""

from __future__ import annotations

from pathlib import Path

from pulltrace.model import load_trace
from pulltrace.pipeline import build_trace
from pulltrace.render.html import render_html
from pulltrace.render.markdown import render_markdown
from pulltrace.render.rows import anchor_map
from pulltrace.render.speed import PhaseRow, delivery_rows
from pulltrace.render.text import render_text

DATA = Path(__file__).resolve().parents[2] / "data" / "speed"
SLOW = "sha256:69db334cdc5e5298ee94f47d4ceab73e05ab122bf8d41f14e42bb06cd01f28e6"


def cold():
    return load_trace(DATA / "docker-slow-cold.json")


def test_the_row_a_speed_finding_names_carries_its_marks_digest_and_split():
    trace = cold()
    rows = delivery_rows(trace.sessions[0], anchor_map(trace))
    assert [(r.blob, r.flags) for r in rows] == [
        ("config", ()), ("layer 2/3", ("slow", "cache miss")), ("layer 1/3", ()), ("layer 3/3", ())]
    slow = rows[1]
    assert (slow.digest, slow.host, slow.verdict, slow.cache) == (SLOW, "edge.pulltrace.test", "miss",
                                                                  "MISS (cache-lab-edge1)")
    assert (slow.size, slow.time, slow.throughput) == ("1.3 MiB", "3.40 s", "411.4 KiB/s")
    # Its 40 ms connect and 106 ms TLS do not fit in its 3.24 s exchange beside the 90 ms wait and
    # 3.14 s transfer: mitmproxy set the connection up at CONNECT time, before the request.
    assert slow.phases == (PhaseRow("wait", "Wait", "90 ms", "2.8"), PhaseRow("transfer", "Transfer", "3.14 s", "97.2"))
    assert (slow.connect, slow.tls) == ("40 ms before the request", "106 ms before the request")
    assert slow.setup_early == "connection set up before the request (connect 40 ms, TLS 106 ms): not part of its time"
    assert slow.flag_titles.startswith("layer 2/3 (69db334cdc5e) came 57× slower than the other layers")


def test_chinese_marks():
    trace = cold()
    assert delivery_rows(trace.sessions[0], anchor_map(trace), lang="zh")[1].flags == ("慢", "缓存未命中")


def test_every_view_marks_the_same_row():
    trace = cold()
    text = render_text(trace).splitlines()
    (at,) = [i for i, line in enumerate(text) if line.split()[:3] == ["10", "layer", "2/3"]]
    assert text[at].split()[3:5] == ["edge.pulltrace.test", "MISS"]
    assert text[at + 1].split()[:4] == ["(slow", "·", "cache", "miss)"]
    wide = render_text(trace, wide=True).split("Why slow:", 1)[1].splitlines()
    assert [line.split()[:7] for line in wide if line.startswith("10 ")] == [
        ["10", "layer", "2/3", "(slow", "·", "cache", "miss)"]]
    md = [line for line in render_markdown(trace).splitlines() if line.startswith("| layer 2/3 ")]
    assert md[0].startswith("| layer 2/3 **(slow · cache miss)** | [10](#s1-10) | edge.pulltrace.test<br>← "
                            "slow.pulltrace.test | MISS (cache-lab-edge1)<br>x-cache: MISS · ")
    html = render_html(trace)
    assert ('<td class="blob">layer 2/3 <span class="flag">slow</span> <span class="flag">cache miss</span>'
            f'<div class="digest">{SLOW}</div></td>') in html
    assert html.count('<tr class="delivery flagged"') == 1


def test_a_pull_without_a_speed_finding_marks_nothing():
    trace = load_trace(DATA / "docker-slow-warm.json")
    rows = delivery_rows(trace.sessions[0], anchor_map(trace))
    assert {(r.flags, r.verdict) for r in rows} == {((), "hit")}
    assert "flagged" not in render_html(trace).split("</style>", 1)[1]


def test_a_blob_whose_connection_was_slow_to_open_is_marked_so():
    # The same cold pull (5.1 s), as if the edge's first connection had taken 2.5 s longer to open.
    trace = cold()
    session = trace.sessions[0]
    first_edge = next(s for s in session.steps if "edge.pulltrace.test" in s.exchange.url)
    first_edge.exchange.timings.early_connect_ms = 2500.0
    rebuilt = build_trace([s.exchange for s in session.steps], trace.source)
    (pull,) = [s for s in rebuilt.sessions if s.action == "pull"]
    rows = {r.blob: r for r in delivery_rows(pull, anchor_map(rebuilt))}
    marked = [blob for blob, r in rows.items() if "slow connect" in r.flags]
    assert len(marked) == 1
    # 2.5 s more than the 0.5 s its setup already took in the recording.
    assert rows[marked[0]].flag_titles == "Opening a connection to edge.pulltrace.test took 3.00 s"
    assert "slow connect" in render_text(rebuilt)
