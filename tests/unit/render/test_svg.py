from render_factory import hub_alpine_trace, seed000_trace

from pulltrace.render.rows import trace_view
from pulltrace.render.svg import sequence


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
