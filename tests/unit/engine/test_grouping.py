"""Pulls grouped by what the protocol links, on real recorded lab exchanges replayed in the
patterns of busy traffic (issue 10's list): each test names the pattern it proves."""

from __future__ import annotations

from dataclasses import replace

from engine_recorded import first_pull, recording, replay, with_request_header

from pulltrace.model import Exchange, StepKind
from pulltrace.pipeline import build_trace
from pulltrace.sessions import AUTH_ANONYMOUS, AUTH_EARLIER_TOKEN

TINY = first_pull(recording("docker-hub-two-pulls"), "library/tiny")
TINY_PLUS = first_pull(recording("docker-hub-two-pulls"), "library/tiny-plus")
SKOPEO = recording("skopeo-hub-three")


def pulls(trace):
    return [s for s in trace.sessions if s.action == "pull"]


def rules(session):
    return [f.rule for f in session.findings]


def retag(tag: str):
    """The same pull asked for by another tag (a second tag on the same image)."""
    def edit(ex: Exchange) -> Exchange:
        return replace(ex, url=ex.url.replace("/manifests/latest", f"/manifests/{tag}"))
    return edit


def test_two_tags_of_one_repository_back_to_back_are_two_pulls():
    trace = build_trace(replay(TINY, at=100.0, tag="a") + replay(TINY, at=100.5, tag="b", edit=retag("v2")), "t")
    assert [s.summary.image for s in pulls(trace)] == [
        "hub.pulltrace.test/library/tiny:latest", "hub.pulltrace.test/library/tiny:v2"]
    assert [len(s.steps) for s in pulls(trace)] == [8, 8]


def test_one_image_pulled_again_and_again_by_one_client_is_one_pull_each_time():
    exchanges = []
    for n in range(20):
        exchanges += replay(TINY, at=100.0 + 2.0 * n, tag=f"p{n}")
    trace = build_trace(exchanges, "t")
    assert len(trace.sessions) == 20
    assert {len(s.steps) for s in trace.sessions} == {8}
    assert all(s.summary.layers_fetched == 1 and s.summary.auth == AUTH_ANONYMOUS for s in trace.sessions)
    # Each pull holds its own ping, token and manifests, none of another pull's.
    for n, session in enumerate(trace.sessions):
        assert {step.id.split("-")[0] for step in session.steps} == {f"p{n}"}


def test_eight_clients_pulling_the_same_image_every_few_seconds_stay_apart():
    exchanges = []
    for n in range(40):
        exchanges += replay(SKOPEO, at=100.0 + 0.7 * n, tag=f"c{n}", client=f"10.0.0.{n % 8}")
    trace = build_trace(exchanges, "t")
    assert len(pulls(trace)) == 40
    for session in trace.sessions:
        assert len({step.id.split("-")[0] for step in session.steps}) == 1
        assert len(session.steps) == 11 and session.summary.layers_fetched == 3


def test_two_concurrent_pulls_of_one_repository_by_one_client_each_have_their_ping_and_token():
    # Two skopeo processes on one host started 10 ms apart: their requests interleave.
    trace = build_trace(replay(SKOPEO, at=100.0, tag="a") + replay(SKOPEO, at=100.01, tag="b"), "t")
    assert len(trace.sessions) == 2
    for session in trace.sessions:
        kinds = [s.kind for s in session.steps]
        assert kinds.count(StepKind.PING) == 1 and kinds.count(StepKind.TOKEN) == 1
        assert len(session.steps) == 11 and session.summary.layers_fetched == 3
        assert session.findings == []


def test_ping_and_token_with_another_user_agent_stay_in_the_pull():
    # Older go-containerregistry (crane) pings and fetches its token through a transport
    # that sends Go's default User-Agent.
    def older_crane(ex: Exchange) -> Exchange:
        if ex.url.endswith("/v2/") or "/token" in ex.url:
            return with_request_header(ex, "User-Agent", "Go-http-client/1.1")
        return with_request_header(ex, "User-Agent", "crane/0.8 go-containerregistry/0.8")
    trace = build_trace(replay(SKOPEO, at=100.0, tag="g", edit=older_crane), "t")
    (session,) = trace.sessions
    assert [s.kind for s in session.steps][:3] == [StepKind.PING, StepKind.TOKEN, StepKind.MANIFEST]
    assert session.summary.auth == AUTH_ANONYMOUS
    assert session.findings == []


def test_a_realm_on_another_host_is_not_a_session_of_its_own():
    # The token service on auth.pulltrace.test, the registry on hub.pulltrace.test (as
    # self-hosted GitLab puts its realm on the GitLab host, not the registry's).
    (session,) = build_trace(replay(TINY, at=100.0, tag="r"), "t").sessions
    token = next(s for s in session.steps if s.kind is StepKind.TOKEN)
    assert token.exchange.url.startswith("https://auth.pulltrace.test/")
    assert session.summary.registry == "hub.pulltrace.test"


def test_a_pull_through_mirror_fetching_upstream_through_the_same_proxy_is_its_own_pull():
    # docker pulls from the mirror; while its manifest request waits, the mirror (a client
    # on the same host, distribution's User-Agent) pulls the image from hub.
    docker = replay(recording("docker-mirror-tiny"), at=100.0, tag="d")
    def as_mirror(ex: Exchange) -> Exchange:
        return with_request_header(ex, "User-Agent", "distribution/2.8.2")
    upstream = replay(TINY, at=100.05, tag="m", edit=as_mirror)
    trace = build_trace(docker + upstream, "t")
    by_registry = {s.summary.registry: s for s in trace.sessions}
    assert sorted(by_registry) == ["hub.pulltrace.test", "mirror.pulltrace.test"]
    assert {st.id.split("-")[0] for st in by_registry["mirror.pulltrace.test"].steps} == {"d"}
    assert {st.id.split("-")[0] for st in by_registry["hub.pulltrace.test"].steps} == {"m"}
    assert "transport.proxy-bypass" not in rules(by_registry["hub.pulltrace.test"])
    assert "transport.proxy-bypass" not in rules(by_registry["mirror.pulltrace.test"])


def _failed_login(at: float) -> list[Exchange]:
    challenge = [("WWW-Authenticate", 'Bearer realm="https://auth.pulltrace.test/token",service="hub.pulltrace.test"')]
    ua = [("User-Agent", "docker/20.10.24+dfsg1 go/go1.19.8")]
    return [
        Exchange(id="login-1", method="GET", url="https://hub.pulltrace.test/v2/", started_at=at, status=401,
                 client="127.0.0.1:40001", request_headers=list(ua), response_headers=challenge),
        Exchange(id="login-2", method="GET", started_at=at + 0.01, status=401, client="127.0.0.1:40002",
                 url="https://auth.pulltrace.test/token?account=alice&client_id=docker&offline_token=true"
                     "&service=hub.pulltrace.test",
                 request_headers=[*ua, ("Authorization", "Basic YWxp…")],
                 response_body_preview='{"errors":[{"code":"UNAUTHORIZED","message":"wrong password"}]}'),
    ]


def test_a_failed_docker_login_then_an_anonymous_pull_keeps_its_tag():
    trace = build_trace(_failed_login(99.0) + replay(TINY, at=100.0, tag="p"), "t")
    login, pull = trace.sessions
    assert login.action == "login" and [s.id for s in login.steps] == ["login-1", "login-2"]
    assert pull.summary.image == "hub.pulltrace.test/library/tiny:latest"
    assert pull.summary.auth == AUTH_ANONYMOUS and len(pull.steps) == 8


def test_a_bearer_token_from_before_the_capture_is_named_so():
    # The capture began after the token dance: the first request seen already carries one.
    def without_dance(ex: Exchange) -> Exchange | None:
        return None if ex.url.endswith("/v2/") or "/token" in ex.url else ex
    late = replay(TINY, at=100.0, tag="l", edit=without_dance)
    (session,) = build_trace(late, "t").sessions
    assert session.summary.auth == AUTH_EARLIER_TOKEN == "bearer (token obtained before the capture)"


def test_empty_basic_credentials_are_anonymous():
    # skopeo/containers-image send `Basic Og==` (":" in base64) when they have no login.
    def empty_basic(ex: Exchange) -> Exchange:
        return with_request_header(ex, "Authorization", "Basic Og==") if "/token" in ex.url else ex
    (session,) = build_trace(replay(SKOPEO, at=100.0, tag="s", edit=empty_basic), "t").sessions
    token = next(s for s in session.steps if s.kind is StepKind.TOKEN)
    assert token.facts.credential_kind == "anonymous"
    assert session.summary.auth == AUTH_ANONYMOUS
    assert "auth.wrong-credentials" not in rules(session)


def test_a_token_response_recorded_without_its_body_is_still_a_token():
    # An access log or a HAR without bodies, and no challenge before it in the capture.
    def bodiless(ex: Exchange) -> Exchange | None:
        if ex.url.endswith("/v2/"):
            return None
        return replace(ex, response_body_preview=None, token_claims=None) if "/token" in ex.url else ex
    (session,) = build_trace(replay(SKOPEO, at=100.0, tag="b", edit=bodiless), "t").sessions
    assert session.steps[0].kind is StepKind.TOKEN
    assert session.summary.auth == AUTH_ANONYMOUS


def test_a_percent_encoded_repository_name_is_the_same_repository():
    def escaped(ex: Exchange) -> Exchange:
        return replace(ex, url=ex.url.replace("/v2/library/three/", "/v2/library%2Fthree/"))
    (session,) = build_trace(replay(SKOPEO, at=100.0, tag="e", edit=escaped), "t").sessions
    assert session.summary.image == "hub.pulltrace.test/library/three:latest"
    assert session.summary.layers_fetched == 3


def test_the_default_port_names_the_same_registry():
    def port_443(ex: Exchange) -> Exchange:
        if "/manifests/" in ex.url:
            return replace(ex, url=ex.url.replace("https://hub.pulltrace.test/", "https://hub.pulltrace.test:443/"))
        return ex
    (session,) = build_trace(replay(SKOPEO, at=100.0, tag="d", edit=port_443), "t").sessions
    assert (session.summary.registry, session.summary.mirror, session.summary.fallback) == (
        "hub.pulltrace.test", None, None)
    assert len(session.steps) == 11


def test_a_manifest_redirected_to_another_registry_keeps_the_registry_pulled_from():
    # registry.k8s.io answers manifest requests with a redirect to its backing registry.
    ua = [("User-Agent", "containerd/1.6.20")]
    body = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":' \
           '"application/vnd.oci.image.config.v1+json","digest":"sha256:' + "c" * 64 + '","size":2},"layers":[]}'
    exchanges = [
        Exchange(id="k1", method="GET", url="https://registry.k8s.io/v2/pause/manifests/3.9", started_at=1.0,
                 status=307, client="10.1.1.1:1", request_headers=list(ua),
                 response_headers=[("Location", "https://backing.example/v2/pause/manifests/3.9")]),
        Exchange(id="k2", method="GET", url="https://backing.example/v2/pause/manifests/3.9", started_at=1.1,
                 status=200, client="10.1.1.1:2", request_headers=list(ua), response_body_preview=body,
                 response_headers=[("Content-Type", "application/vnd.oci.image.manifest.v1+json")]),
    ]
    (session,) = build_trace(exchanges, "t").sessions
    assert (session.summary.image, session.summary.registry, session.summary.mirror) == (
        "registry.k8s.io/pause:3.9", "registry.k8s.io", None)
    assert session.steps[1].kind is StepKind.MANIFEST and session.steps[1].linked("follows") == ["k1"]


def test_a_refused_https_connection_joins_the_plain_http_pull_after_it():
    # dockerd tries https:// first for an insecure registry, then falls back to http://.
    failed = Exchange(id="f1", method="CONNECT", url="https://plain.pulltrace.test:5000/", started_at=1.0,
                      client="10.2.2.2:9", error="tls: first record does not look like a TLS handshake")
    plain = Exchange(id="f2", method="GET", url="http://plain.pulltrace.test:5000/v2/tiny/manifests/latest",
                     started_at=1.2, status=404, client="10.2.2.2:10",
                     response_body_preview='{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
    (session,) = build_trace([failed, plain], "t").sessions
    assert [s.kind for s in session.steps] == [StepKind.CONNECTION, StepKind.MANIFEST]
    assert [s.error for s in session.steps] == [
        "CONNECT /: tls: first record does not look like a TLS handshake",
        "404 GET /v2/tiny/manifests/latest: MANIFEST_UNKNOWN"]
