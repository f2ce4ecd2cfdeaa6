import re

from render_factory import ex, hub_alpine_trace, seed000_trace

from pulltrace.model import Session, SessionSummary, Step, StepKind, Trace
from pulltrace.render.html import render_html
from pulltrace.render.rows import trace_view
from pulltrace.render.svg import CHAR_PX, HEAD_PX, LANE_GAP, MAX_GAP, request_label, sequence


def test_lanes_client_registry_auth_cdn():
    view = trace_view(seed000_trace())
    d = sequence(view.sessions[0])
    assert [(lane.role, lane.host) for lane in d.lanes] == [
        ("client", "docker/17.12.0-ce"),
        ("registry", "daocloud.io"),
        ("auth", "daohub-auth.daocloud.io"),
        ("cdn", "daohub.ufile.ucloud.com.cn"),
    ]
    xs = {lane.key: lane.x for lane in d.lanes}
    assert [a.x2 for a in d.arrows] == [
        xs["registry|daocloud.io"], xs["auth|daohub-auth.daocloud.io"], xs["registry|daocloud.io"],
        xs["registry|daocloud.io"], xs["cdn|daohub.ufile.ucloud.com.cn"],
    ]
    assert [a.status_class for a in d.arrows] == ["s4xx", "s2xx", "s2xx", "s3xx", "s2xx"]
    assert d.arrows[0].anchor == "s1-1"
    assert d.width >= max(lane.x for lane in d.lanes) and d.height > d.arrows[-1].y


def test_labels_fit_between_lanes():
    view = trace_view(hub_alpine_trace())
    d = sequence(view.sessions[0])
    right = d.lanes[-1].x + 90
    for a in d.arrows:
        assert len(a.request) * 6.6 <= right - a.x1
        assert len(a.response) * 6.6 <= a.x2 - a.x1


def test_long_sessions_are_cut_with_a_caption():
    view = trace_view(seed000_trace())
    d = sequence(view.sessions[0], limit=2, lang="zh")
    assert len(d.arrows) == 2 and d.caption == "仅显示前 2 步（共 5 步）"


def _gcr_trace() -> Trace:
    """A long repository path (seed 001's gcr.io kube-controller-manager) and a blob
    redirected to storage: the labels that used to run across other lanes."""
    digest = "sha256:" + "7ff962b6cdef" + "0" * 52
    repo = "google-containers/kube-controller-manager"
    steps = [
        Step(ex(1, "GET", "https://gcr.io/v2/", 401, at=0, ms=5), StepKind.PING, 0),
        Step(ex(2, "GET", f"https://gcr.io/v2/{repo}/manifests/{digest}", 200, at=0.1, ms=5), StepKind.MANIFEST, 1),
        Step(ex(3, "GET", f"https://gcr.io/v2/{repo}/blobs/{digest}", 302, at=0.2, ms=5), StepKind.BLOB_REDIRECT, 2),
        Step(ex(4, "GET", f"https://storage.googleapis.com/artifacts.google-containers.appspot.com/containers/"
                          f"images/{digest}?Expires=…&Signature=…", 200, at=0.3, ms=5), StepKind.CDN_DOWNLOAD, 3),
    ]
    session = Session("gcr", client="docker/19.03.12 (192.0.2.20)", steps=steps,
                      summary=SessionSummary(image=f"gcr.io/{repo}:v1.16.10", registry="gcr.io"))
    return Trace(sessions=[session])


def _label_px(text: str) -> float:
    return len(text) * CHAR_PX


def test_every_label_ends_before_its_own_arrowhead():
    # What a reader saw: labels running past their lane, and on CDN rows the
    # arrowhead drawn over the end of the label.
    for trace in (seed000_trace(), hub_alpine_trace(), _gcr_trace()):
        d = sequence(trace_view(trace).sessions[0])
        for a in d.arrows:
            assert a.text_x + _label_px(a.request) <= a.x2 - HEAD_PX - 2, a.request
            assert a.response_x <= a.x2 - HEAD_PX - 2
            assert a.response_x - _label_px(a.response) >= a.x1 + HEAD_PX + 2, a.response
            assert d.width >= a.x2 + 100  # the last lane box is whole


def test_labels_abbreviate_digests_and_cut_long_paths_in_the_middle():
    d = sequence(trace_view(_gcr_trace()).sessions[0])
    manifest, blob, cdn = d.arrows[1], d.arrows[2], d.arrows[3]
    for a in d.arrows:
        assert not re.search(r"[0-9a-f]{13}", a.request), a.request
    # Both ends stay readable: the method and /v2/ at the start, the digest at the end.
    assert manifest.request.startswith("2 GET /v2/goog") and manifest.request.endswith("sha256:7ff962b6cdef…")
    assert "…" in manifest.request.removesuffix("sha256:7ff962b6cdef…")
    assert blob.request.endswith("/blobs/sha256:7ff962b6cdef…")
    assert "storage.googleapis.com" not in cdn.request  # the lane names the host
    assert "/containers/images/sha256:7ff962b6cdef…" in cdn.request


def test_the_whole_request_is_in_the_tooltip():
    d = sequence(trace_view(_gcr_trace()).sessions[0])
    digest = "sha256:7ff962b6cdef" + "0" * 52
    assert d.arrows[1].tooltip == (
        f"2. GET https://gcr.io/v2/google-containers/kube-controller-manager/manifests/{digest}\n200 OK")


def test_client_lane_names_the_client_briefly_with_the_user_agent_behind_it():
    trace = _gcr_trace()
    ua = "docker/19.03.12 go/go1.13.10 git-commit/48a66213fe kernel/5.4.0 os/linux arch/amd64"
    trace.sessions[0].steps[0].exchange.request_headers.append(("User-Agent", ua))
    client = sequence(trace_view(trace).sessions[0]).lanes[0]
    assert client.label == "docker 19.03"
    assert client.tooltip == ua
    html = render_html(trace)
    assert f"<title>client: {ua}</title>" in html
    assert ">docker 19.03</text>" in html


def test_lanes_widen_for_their_labels_but_stay_printable():
    # Seed 000's paths fit whole once the lane moves right (no cut besides the
    # digests'); gcr.io's long repository is cut rather than the diagram widened.
    short = sequence(trace_view(seed000_trace()).sessions[0])
    rows = trace_view(seed000_trace()).sessions[0].steps
    assert [a.request for a in short.arrows] == [
        request_label(r.number, r.method, r.url, r.host, 10_000) for r in rows]
    assert LANE_GAP < short.lanes[1].x - short.lanes[0].x < MAX_GAP
    long = sequence(trace_view(_gcr_trace()).sessions[0])
    gaps = [b.x - a.x for a, b in zip(long.lanes, long.lanes[1:], strict=False)]
    assert gaps[0] == MAX_GAP and all(LANE_GAP <= g <= MAX_GAP for g in gaps)
