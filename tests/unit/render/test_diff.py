import copy

from render_factory import hub_alpine_trace, seed000_trace

from pulltrace.model import StepKind
from pulltrace.render.diff import CHANGED, ONLY_A, ONLY_B, SAME, align_key, diff_traces
from pulltrace.render.diff_render import render_diff_html, render_diff_markdown, render_diff_text
from pulltrace.render.fmt import display_width
from pulltrace.render.rows import step_rows


def _statuses(d):
    return [(r.status, r.a.number if r.a else None, r.b.number if r.b else None) for r in d.sessions[0].rows]


def test_identical_traces_are_all_same():
    d = diff_traces(seed000_trace(), seed000_trace())
    assert _statuses(d) == [(SAME, n, n) for n in range(1, 6)]
    assert d.sessions[0].counts == {SAME: 5, CHANGED: 0, ONLY_A: 0, ONLY_B: 0}


def test_a_client_without_ping_and_a_failed_blob():
    b = seed000_trace()
    del b.sessions[0].steps[0]  # containerd starts without /v2/
    b.sessions[0].steps[2].exchange.status = 404
    b.sessions[0].steps[2].exchange.reason = "Not Found"
    d = diff_traces(seed000_trace(), b)
    assert _statuses(d) == [(ONLY_A, 1, None), (SAME, 2, 1), (SAME, 3, 2), (CHANGED, 4, 3), (SAME, 5, 4)]
    changed = d.sessions[0].rows[3].differences
    assert [(x.field, x.a, x.b) for x in changed] == [("Status", "307 Temporary Redirect", "404 Not Found")]


def test_a_mirror_differs_in_host_not_in_steps():
    b = seed000_trace()
    for step in b.sessions[0].steps:
        ex = step.exchange
        moved = ex.url.replace("https://daocloud.io/", "https://mirror.test/")
        ex.url = moved + ("?ns=daocloud.io" if "mirror.test" in moved else "")
    d = diff_traces(seed000_trace(), b)
    rows = d.sessions[0].rows
    assert [r.status for r in rows] == [CHANGED, SAME, CHANGED, CHANGED, SAME]
    assert ("Host", "daocloud.io", "mirror.test") in [(x.field, x.a, x.b) for x in rows[0].differences]


def test_a_tag_and_a_digest_pair_up_as_one_changed_step():
    b = seed000_trace()
    ex = b.sessions[0].steps[2].exchange
    ex.url = ex.url.replace("latest", "sha256:" + "4" * 64)
    d = diff_traces(seed000_trace(), b)
    row = d.sessions[0].rows[2]
    assert row.status == CHANGED and row.differences[0].field == "Request"


def test_parallel_blobs_in_another_order_align_by_digest():
    a, b = hub_alpine_trace(), hub_alpine_trace()
    steps = b.sessions[0].steps
    extra = copy.deepcopy(steps[4])
    extra.exchange.id = "x9"
    extra.exchange.url = extra.exchange.url.replace("d" * 64, "e" * 64)
    steps.insert(4, extra)
    d = diff_traces(a, b)
    assert [r.status for r in d.sessions[0].rows].count(ONLY_B) == 1
    only_b = next(r for r in d.sessions[0].rows if r.status == ONLY_B)
    assert "e" * 64 in only_b.b.url


def test_align_key_ignores_host_query_and_prefix():
    rows = step_rows(seed000_trace().sessions[0])
    assert align_key(rows[0]) == ("ping",)
    assert align_key(rows[2]) == ("manifest", "manifests", "latest")
    cdn = align_key(rows[4])
    assert cdn == ("cdn-download", "sha256:5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3")


def test_views():
    b = seed000_trace()
    del b.sessions[0].steps[0]
    d = diff_traces(seed000_trace(), b, label_a="docker.json", label_b="client.json")
    text = render_diff_text(d)
    assert "A = docker.json" in text and "1 only in A" in text
    assert all(display_width(line) <= 80 for line in text.splitlines() if not line.startswith("    "))
    md = render_diff_markdown(d)
    assert "| - | 1 |  | ping |" in md
    html = render_diff_html(d)
    assert 'class="diff-only-a"' in html and "<script>" in html
    zh = render_diff_text(diff_traces(seed000_trace(), b, lang="zh"))
    assert "仅在 A 中" in zh


def test_sessions_pair_by_image():
    a = seed000_trace()
    a.sessions += hub_alpine_trace().sessions
    b = hub_alpine_trace()
    b.sessions += seed000_trace().sessions
    d = diff_traces(a, b)
    assert [(s.title_a, s.title_b) for s in d.sessions] == [
        ("daocloud.io/busybox:latest", "daocloud.io/busybox:latest"),
        ("docker.io/library/alpine:latest", "docker.io/library/alpine:latest"),
    ]
    assert all(s.counts[CHANGED] == 0 for s in d.sessions)


def _three_layer_trace(order="def"):
    """hub alpine with three layers served directly (200), fetched in `order`."""
    t = hub_alpine_trace()
    steps = t.sessions[0].steps
    template = steps[4]
    del steps[4:]
    for n, c in enumerate(order):
        s = copy.deepcopy(template)
        s.kind = StepKind.LAYER_BLOB
        s.exchange.id = f"L{c}{n}"
        s.exchange.url = s.exchange.url.replace("d" * 64, c * 64)
        s.exchange.status, s.exchange.reason = 200, "OK"
        s.exchange.response_headers = [("Content-Type", "application/octet-stream")]
        s.links = []
        steps.append(s)
    return t


def _rows(d):
    return [
        (r.status, r.a.number if r.a else None, r.b.number if r.b else None, r.kind_label,
         (r.a or r.b).path.rsplit("/", 1)[-1][7:10])
        for r in d.sessions[0].rows
    ]


def test_reordered_blobs_pair_with_their_counterparts():
    d = diff_traces(_three_layer_trace("def"), _three_layer_trace("fde"))
    assert [r[:3] for r in _rows(d)] == [
        (SAME, 1, 1), (SAME, 2, 2), (SAME, 3, 3), (SAME, 4, 4),
        (SAME, 5, 6), (SAME, 6, 7), (SAME, 7, 5),
    ]
    assert [r[4] for r in _rows(d)][4:] == ["ddd", "eee", "fff"]
    assert d.sessions[0].counts == {SAME: 7, CHANGED: 0, ONLY_A: 0, ONLY_B: 0}


def test_a_missing_layer_is_only_in_a_in_its_place():
    d = diff_traces(_three_layer_trace("def"), _three_layer_trace("fd"))
    assert [r[:3] + (r[4],) for r in _rows(d)][4:] == [
        (SAME, 5, 6, "ddd"), (ONLY_A, 6, None, "eee"), (SAME, 7, 5, "fff"),
    ]
    assert d.sessions[0].counts == {SAME: 6, CHANGED: 0, ONLY_A: 1, ONLY_B: 0}


def test_an_extra_retry_is_only_in_b_and_the_last_attempt_pairs():
    b = _three_layer_trace("deef")
    failed = b.sessions[0].steps[5].exchange  # the first "e" attempt: a 503, then a retry
    failed.status, failed.reason = 503, "Service Unavailable"
    d = diff_traces(_three_layer_trace("def"), b)
    assert [r[:3] + (r[4],) for r in _rows(d)][4:] == [
        (SAME, 5, 5, "ddd"), (ONLY_B, None, 6, "eee"), (SAME, 6, 7, "eee"), (SAME, 7, 8, "fff"),
    ]
    assert d.sessions[0].rows[5].b.status == 503


def test_two_different_digests_never_pair():
    d = diff_traces(_three_layer_trace("de"), _three_layer_trace("df"))
    assert [r[:3] + (r[4],) for r in _rows(d)][4:] == [
        (SAME, 5, 5, "ddd"), (ONLY_A, 6, None, "eee"), (ONLY_B, None, 6, "fff"),
    ]


def test_a_served_blob_pairs_with_a_redirected_one_and_names_both_kinds():
    # A mirror serves the blob itself; Docker Hub redirects it to its CDN.
    d = diff_traces(hub_alpine_trace(), _three_layer_trace("d"))
    rows = d.sessions[0].rows
    assert [(r.status, r.a.number if r.a else None, r.b.number if r.b else None) for r in rows] == [
        (SAME, 1, 1), (SAME, 2, 2), (SAME, 3, 3), (SAME, 4, 4), (CHANGED, 5, 5), (ONLY_A, 6, None),
    ]
    assert [(x.field, x.a, x.b) for x in rows[4].differences][:2] == [
        ("Kind", rows[4].a.kind_label, rows[4].b.kind_label),
        ("Status", "307 Temporary Redirect", "200 OK"),
    ]
