"""Two grouping rules the lab's real clients showed (tests/engine/test_grouping_lab_hosts.py),
here on hand-written exchanges so the quick run keeps them: a redirected manifest request is
not a failed one, and a token belongs to the pull of the request it was presented with."""

from __future__ import annotations

from onelayer import CONFIG, DIGEST, LAYER, MANIFEST, MANIFEST_HEADERS

from pulltrace.model import Exchange, StepKind
from pulltrace.pipeline import build_trace


def _ex(id_: str, at: float, url: str, agent: str, *, method: str = "GET", status: int = 200,
        headers: list[tuple[str, str]] | None = None, body: str | None = None,
        bearer: bool = False) -> Exchange:
    request = [("User-Agent", agent)] + ([("Authorization", "Bearer e30.e30.x")] if bearer else [])
    return Exchange(id=id_, method=method, url=url, started_at=at, duration_ms=5.0, status=status,
                    client="10.9.9.9:4000", request_headers=request, response_headers=headers or [],
                    response_body_preview=body)


def _k8s_pull(tag: str, at: float, agent: str) -> list[Exchange]:
    front, backend = "https://registry.k8s.io/v2/pause", "https://backing.example/v2/k8s-artifacts-prod/images/pause"
    return [
        _ex(f"{tag}1", at, f"{front}/manifests/3.9", agent, status=307,
            headers=[("Location", f"{backend}/manifests/3.9")]),
        _ex(f"{tag}2", at + 0.02, f"{backend}/manifests/3.9", agent, headers=MANIFEST_HEADERS, body=MANIFEST),
        _ex(f"{tag}3", at + 0.04, f"{front}/blobs/{CONFIG}", agent, status=307,
            headers=[("Location", f"{backend}/blobs/{CONFIG}")]),
        _ex(f"{tag}4", at + 0.06, f"{backend}/blobs/{CONFIG}", agent),
        _ex(f"{tag}5", at + 0.08, f"{front}/blobs/{LAYER}", agent, status=307,
            headers=[("Location", f"{backend}/blobs/{LAYER}")]),
        _ex(f"{tag}6", at + 0.10, f"{backend}/blobs/{LAYER}", agent),
    ]


def test_two_programs_on_one_host_asking_a_redirecting_registry_for_one_tag_at_once_are_two_pulls():
    # skopeo and podman on one node, registry.k8s.io: the first one's 307 is no failure the
    # second one's request could be the retry of.
    a, b = _k8s_pull("a", 1.0, "skopeo/1.9.3"), _k8s_pull("b", 1.01, "containers/5.23.1")
    trace = build_trace(sorted(a + b, key=lambda e: e.started_at), "t")
    assert [sorted(s.id for s in session.steps) for session in trace.sessions] == [
        [f"a{n}" for n in range(1, 7)], [f"b{n}" for n in range(1, 7)]]
    for session in trace.sessions:
        assert session.summary.image == "registry.k8s.io/pause:3.9" and session.summary.layers_fetched == 1
        assert all(step.repository == "pause" for step in session.steps)
        assert session.findings == []


def test_a_mirror_asking_a_token_per_upstream_request_keeps_each_token_with_its_request():
    # distribution's pull-through cache pings its upstream once, then asks a token for every
    # request; the warm pull (the tag asked again, nothing else) has a token of its own.
    hub, agent = "https://hub.example/v2", "Go-http-client/1.1"
    challenge = [("WWW-Authenticate", 'Bearer realm="https://auth.example/token",service="hub.example"')]
    token_url = "https://auth.example/token?account=admin&scope=repository%3Alibrary%2Ftiny%3Apull&service=hub.example"
    token = '{"token":"e30.e30.x","expires_in":300}'
    exchanges = [
        _ex("p", 1.0, f"{hub}/", agent, status=401, headers=challenge),
        _ex("t1", 2.0, token_url, agent, body=token),
        _ex("h1", 2.1, f"{hub}/library/tiny/manifests/latest", agent, method="HEAD", headers=MANIFEST_HEADERS,
            bearer=True),
        _ex("g1", 2.2, f"{hub}/library/tiny/manifests/{DIGEST}", agent, headers=MANIFEST_HEADERS, body=MANIFEST,
            bearer=True),
        _ex("t2", 2.3, token_url, agent, body=token),
        _ex("c1", 2.4, f"{hub}/library/tiny/blobs/{CONFIG}", agent, bearer=True),
        _ex("t3", 2.5, token_url, agent, body=token),
        _ex("l1", 2.6, f"{hub}/library/tiny/blobs/{LAYER}", agent, bearer=True),
        _ex("t4", 3.0, token_url, agent, body=token),
        _ex("h2", 3.1, f"{hub}/library/tiny/manifests/latest", agent, method="HEAD", headers=MANIFEST_HEADERS,
            bearer=True),
    ]
    cold, warm = build_trace(exchanges, "t").sessions
    assert [s.id for s in cold.steps] == ["p", "t1", "h1", "g1", "t2", "c1", "t3", "l1"]
    assert [s.id for s in warm.steps] == ["t4", "h2"]
    assert [s.kind for s in warm.steps] == [StepKind.TOKEN, StepKind.MANIFEST_HEAD]
    assert cold.summary.layers_fetched == 1 and warm.summary.image == "hub.example/library/tiny:latest"


def test_another_programs_blob_request_is_not_the_retry_of_a_waiting_token():
    # skopeo and podman on one node, one registry: podman's token is waiting for its manifest
    # request when skopeo (which has its token) asks for a blob.
    reg = "https://registry.example/v2"
    challenge = [("WWW-Authenticate", 'Bearer realm="https://gitlab.example/jwt/auth",service="container_registry"')]
    body = '{"token":"e30.e30.x","expires_in":300}'

    def token(id_: str, at: float, repo: str, agent: str) -> Exchange:
        return _ex(id_, at, f"https://gitlab.example/jwt/auth?scope=repository%3A{repo}%3Apull"
                   "&service=container_registry", agent, body=body)
    skopeo, podman = "skopeo/1.9.3", "containers/5.23.1"
    exchanges = [
        _ex("a1", 1.00, f"{reg}/", skopeo, status=401, headers=challenge),
        _ex("b1", 1.01, f"{reg}/", podman, status=401, headers=challenge),
        token("a2", 1.02, "tiny", skopeo),
        _ex("a3", 1.03, f"{reg}/tiny/manifests/latest", skopeo, headers=MANIFEST_HEADERS, body=MANIFEST, bearer=True),
        token("b2", 1.04, "other", podman),
        _ex("a4", 1.05, f"{reg}/tiny/blobs/{CONFIG}", skopeo, bearer=True),
        _ex("b3", 1.06, f"{reg}/other/manifests/latest", podman, headers=MANIFEST_HEADERS, body=MANIFEST,
            bearer=True),
        _ex("a5", 1.07, f"{reg}/tiny/blobs/{LAYER}", skopeo, bearer=True),
        _ex("b4", 1.08, f"{reg}/other/blobs/{CONFIG}", podman, bearer=True),
        _ex("b5", 1.09, f"{reg}/other/blobs/{LAYER}", podman, bearer=True),
    ]
    first, second = build_trace(exchanges, "t").sessions
    assert [s.id for s in first.steps] == ["a1", "a2", "a3", "a4", "a5"]
    assert [s.id for s in second.steps] == ["b1", "b2", "b3", "b4", "b5"]
    assert second.steps[1].linked("retried-by") == ["b3"]


def test_a_program_that_never_pings_leaves_another_programs_ping_alone():
    # containerd starts with an unauthenticated HEAD; skopeo on the same host pinged hub a
    # moment before and is still fetching its token.
    reg = "https://hub.example/v2"
    challenge = [("WWW-Authenticate", 'Bearer realm="https://auth.example/token",service="hub.example"')]
    body = '{"token":"e30.e30.x","expires_in":300}'
    token_url = "https://auth.example/token?scope=repository%3Alibrary%2F{}%3Apull&service=hub.example"
    skopeo, ctr = "skopeo/1.9.3", "containerd/1.6.20"
    exchanges = [
        _ex("a1", 1.00, f"{reg}/", skopeo, status=401, headers=challenge),
        _ex("b1", 1.01, f"{reg}/library/busybox/manifests/latest", ctr, method="HEAD", status=401,
            headers=[("WWW-Authenticate", challenge[0][1] + ',scope="repository:library/busybox:pull"')]),
        _ex("b2", 1.02, token_url.format("busybox"), ctr, body=body),
        _ex("a2", 1.03, token_url.format("three"), skopeo, body=body),
        _ex("b3", 1.04, f"{reg}/library/busybox/manifests/latest", ctr, method="HEAD", headers=MANIFEST_HEADERS,
            bearer=True),
        _ex("a3", 1.05, f"{reg}/library/three/manifests/latest", skopeo, headers=MANIFEST_HEADERS, body=MANIFEST,
            bearer=True),
    ]
    ctr_pull, skopeo_pull = sorted(build_trace(exchanges, "t").sessions, key=lambda s: s.client)
    assert [s.id for s in ctr_pull.steps] == ["b1", "b2", "b3"]
    assert [s.id for s in skopeo_pull.steps] == ["a1", "a2", "a3"]
