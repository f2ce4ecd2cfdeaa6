from render_factory import ex, hostile_trace, hub_alpine_trace, seed000_trace

from pulltrace.model import Session, SessionSummary, Step, StepFacts, StepKind, Trace
from pulltrace.render.rows import step_rows, summary_rows, trace_view


def test_seed000_rows_in_blog_order():
    rows = step_rows(seed000_trace().sessions[0])
    assert [(r.number, r.method, r.path.split("?")[0], r.status) for r in rows] == [
        (1, "GET", "/v2/", 401),
        (2, "GET", "/auth", 200),
        (3, "GET", "/v2/busybox/manifests/latest", 200),
        (4, "GET", "/v2/busybox/blobs/sha256:5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3", 307),
        (
            5,
            "GET",
            "/docker/registry/v2/blobs/sha256/5b/5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3/data",
            200,
        ),
    ]
    assert rows[3].status_text == "307 Temporary Redirect"
    assert rows[0].status_text == "401 Unauthorized"  # reason from the standard phrase


def test_key_headers_are_picked_and_links_resolve_to_anchors():
    rows = step_rows(seed000_trace().sessions[0])
    assert [k for k, _ in rows[0].key_response_headers] == ["Content-Type", "Content-Length", "Www-Authenticate"]
    assert ("Location" in dict(rows[3].key_response_headers))
    assert [(link.rel, link.anchor, link.number) for link in rows[3].links] == [
        ("blob-of", "s1-3", 3), ("redirects-to", "s1-5", 5)]
    assert rows[1].links[0].label == "answers"
    assert step_rows(seed000_trace().sessions[0], lang="zh")[1].links[0].label == "回应"
    hub = step_rows(hub_alpine_trace().sessions[0])
    assert ("RateLimit-Remaining", "99;w=21600") in hub[2].key_response_headers


def test_lanes_come_from_kinds_and_hosts():
    rows = step_rows(seed000_trace().sessions[0])
    assert [r.lane for r in rows] == [
        "registry|daocloud.io", "auth|daohub-auth.daocloud.io", "registry|daocloud.io",
        "registry|daocloud.io", "cdn|daohub.ufile.ucloud.com.cn",
    ]


def test_a_basic_login_stays_in_the_registry_lane():
    # `docker login` to an htpasswd registry: GET /v2/ again, with Basic credentials.
    ping = ex(1, "GET", "https://basic.example/v2/", 401, at=0.0, ms=3,
              resp=[("WWW-Authenticate", 'Basic realm="registry"')])
    login = ex(2, "GET", "https://basic.example/v2/", 200, at=0.1, ms=3, req=[("Authorization", "Basic YWRt…")])
    session = Session("s1", action="login", steps=[Step(ping, StepKind.PING, 1), Step(login, StepKind.LOGIN, 2)],
                      summary=SessionSummary(registry="basic.example", auth="basic"))
    assert [r.lane for r in step_rows(session)] == ["registry|basic.example"] * 2


def test_start_offsets_and_blob_bodies():
    rows = step_rows(seed000_trace().sessions[0])
    assert [round(r.start_ms) for r in rows] == [0, 50, 100, 160, 190]
    assert rows[4].is_blob_body and not rows[3].is_blob_body
    assert rows[0].response_body.startswith("{\n")  # pretty-printed


def test_summary_rows_only_show_what_is_known():
    keys = [r.key for r in summary_rows(seed000_trace().sessions[0])]
    assert keys[:3] == ["image", "registry", "client"]
    assert "platform" not in keys and "mirror" not in keys
    assert "platform" in [r.key for r in summary_rows(hub_alpine_trace().sessions[0])]


def test_a_scope_granted_with_no_actions_says_so():
    trace = seed000_trace()
    trace.sessions[0].summary.scopes_granted = ["repository:private/secret:", "repository:busybox:pull"]
    (row,) = [r for r in summary_rows(trace.sessions[0]) if r.key == "scopes"]
    assert row.value == "repository:private/secret (no actions granted), repository:busybox:pull"
    (row,) = [r for r in summary_rows(trace.sessions[0], lang="zh") if r.key == "scopes"]
    assert row.value.startswith("repository:private/secret (未授予任何操作)")


def test_unmasked_secrets_are_masked_at_the_view():
    trace = seed000_trace()
    raw = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
    trace.sessions[0].steps[2].exchange.request_headers = [("Authorization", raw)]
    row = step_rows(trace.sessions[0])[2]
    assert raw not in str(row.request_headers)
    # ...unless the user asked to see them.
    trace.sessions[0].steps[2].exchange.secrets_masked = False
    assert raw in str(step_rows(trace.sessions[0])[2].request_headers)


def test_trace_view_handles_empty_and_hostile_traces():
    assert trace_view(Trace()).sessions == []
    view = trace_view(hostile_trace())
    assert view.sessions[0].steps[0].links[0].anchor == "s1-2"


def _harbor_login(status: int) -> Session:
    """`docker login` to Harbor as seed 004 records it: the challenge, then the
    credentials sent to /service/token with the account named in the query."""
    ping = ex(1, "GET", "https://harbor.example/v2/", 401, at=0.0, ms=3,
              resp=[("Www-Authenticate", 'Bearer realm="https://harbor.example/service/token",service="harbor-registry"')])
    login = ex(2, "GET", "https://harbor.example/service/token?account=admin&client_id=docker&offline_token=true"
                         "&service=harbor-registry", status, at=0.1, ms=20, req=[("Authorization", "Basic YWRt…")])
    steps = [Step(ping, StepKind.PING, 0),
             Step(login, StepKind.LOGIN, 1, facts=StepFacts(account="admin", realm="https://harbor.example/service/token"))]
    return Session("login", action="login", client="docker/20.10.17 (192.0.2.1)", steps=steps,
                   summary=SessionSummary(registry="harbor.example", auth="bearer-credentials", duration_ms=23.0))


def test_a_login_summary_says_who_logged_in_where_and_whether_it_worked():
    rows = {r.label: r.value for r in summary_rows(_harbor_login(200))}
    assert rows["Registry"] == "harbor.example"
    assert rows["User"] == "admin"
    assert rows["Token service"] == "https://harbor.example/service/token"
    assert rows["Result"] == "accepted (200 OK, step #2)"
    # Nothing of a pull: no image, no layers, no bytes.
    assert not {"Image", "Layers", "Bytes", "Skipped (already present)"} & set(rows)
    refused = {r.label: r.value for r in summary_rows(_harbor_login(401), lang="zh")}
    assert refused["结果"] == "登录失败（401 Unauthorized，第 2 步）"


def test_a_basic_login_to_the_registry_itself_names_no_token_service():
    ping = ex(1, "GET", "https://basic.example/v2/", 401, at=0.0, ms=3)
    login = ex(2, "GET", "https://basic.example/v2/", 200, at=0.1, ms=3, req=[("Authorization", "Basic YWRt…")])
    session = Session("s1", action="login", steps=[Step(ping, StepKind.PING, 0), Step(login, StepKind.LOGIN, 1)],
                      summary=SessionSummary(registry="basic.example", auth="basic"))
    rows = {r.label: r.value for r in summary_rows(session)}
    assert rows["Result"] == "accepted (200 OK, step #2)" and rows["Auth"] == "basic"
    assert "Token service" not in rows and "Image" not in rows


def test_a_skipped_blob_is_named_by_its_place_in_the_manifest():
    # Seed 000: the client already had busybox's only layer and fetched just the config.
    trace = seed000_trace()
    layer = "sha256:57310166fe88e0dc63a80ca5c219283a932db0f3969712e2f8a86ada143bf566"
    trace.sessions[0].summary.skipped_blobs = [layer, "sha256:" + "e" * 64]
    rows = {r.key: r.value for r in summary_rows(trace.sessions[0])}
    # The second digest is in no manifest of the session: it stays a short digest.
    assert rows["skipped"] == "layer 1/1 sha256:57310166fe88… (706.1 KiB), sha256:eeeeeeeeeeee…"
    zh = {r.key: r.value for r in summary_rows(trace.sessions[0], lang="zh")}
    assert zh["skipped"].startswith("第 1/1 层 sha256:57310166fe88…")


def test_finding_counts_read_as_words():
    from pulltrace.model import Finding, Severity

    session = seed000_trace().sessions[0]
    session.findings = [
        Finding("a.x", Severity.ERROR, "t", "c", "f"),
        Finding("a.y", Severity.ERROR, "t", "c", "f"),
        Finding("a.z", Severity.WARNING, "t", "c", "f"),
    ]

    def count(lang):
        return next(r.value for r in summary_rows(session, lang=lang) if r.key == "findings")

    assert count("en") == "2 errors, 1 warning"
    assert count("zh") == "2 条错误, 1 条警告"
    session.findings = session.findings[:1]
    assert count("en") == "1 error"
