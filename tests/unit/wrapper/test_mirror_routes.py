"""The tracing mirror's URL rewriting and routing, on mitmproxy's own test flows."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy.test import tflow, tutils

from pulltrace.capture.mirror import (
    MirrorRoutes,
    Upstream,
    parse_route,
    parse_upstream,
    print_config,
    rewrite_location,
    rewrite_realm,
    route_path,
)
from pulltrace.errors import UserError

HUB = Upstream("https", "hub.pulltrace.test", 443)
BASE = "http://127.0.0.1:5999"


@pytest.mark.parametrize(("text", "expected"), [
    ("docker.io", Upstream("https", "registry-1.docker.io", 443)),
    ("index.docker.io", Upstream("https", "registry-1.docker.io", 443)),
    ("ghcr.io", Upstream("https", "ghcr.io", 443)),
    ("https://Registry.Example:5443/", Upstream("https", "registry.example", 5443)),
    ("http://plain.pulltrace.test:5000", Upstream("http", "plain.pulltrace.test", 5000)),
])
def test_upstreams_are_read_the_way_users_write_them(text, expected):
    assert parse_upstream(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "no upstream registry given"),
    ("ftp://x.example", "not a registry URL"),
    ("https://proxy.example/docker-registry", "without a path"),
    ("https://x.example:99999", "invalid port"),
])
def test_bad_upstreams_are_one_line(text, message):
    with pytest.raises(UserError, match=message):
        parse_upstream(text)


def test_docker_hub_is_named_docker_io_in_client_configs():
    assert parse_upstream("docker.io").registry_name == "docker.io"
    assert Upstream("https", "r.example", 5443).registry_name == "r.example:5443"


def test_a_bearer_realm_comes_back_through_the_mirror():
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"'
    assert rewrite_realm(header, BASE) == (
        'Bearer realm="http://127.0.0.1:5999/_pulltrace/auth/https/auth.docker.io/token",'
        'service="registry.docker.io",scope="repository:a/b:pull"')


def test_a_basic_challenge_is_left_alone():
    assert rewrite_realm('Basic realm="Registry Realm"', BASE) == 'Basic realm="Registry Realm"'


def test_a_cdn_redirect_comes_back_through_the_mirror_with_its_signature():
    location = "https://cdn.example/docker/blobs/sha256/ab/abcd/data?X-Amz-Signature=s1&X-Amz-Expires=1200"
    assert rewrite_location(location, BASE, HUB) == (
        BASE + "/_pulltrace/blob/https/cdn.example/docker/blobs/sha256/ab/abcd/data"
               "?X-Amz-Signature=s1&X-Amz-Expires=1200")


def test_a_redirect_to_the_registry_itself_goes_to_the_mirror():
    location = "https://hub.pulltrace.test/v2/x/blobs/sha256:1"
    assert rewrite_location(location, BASE, HUB) == BASE + "/v2/x/blobs/sha256:1"


def test_a_relative_redirect_is_already_the_mirrors():
    assert rewrite_location("/v2/x/blobs/uploads/1", BASE, HUB) == "/v2/x/blobs/uploads/1"


_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)
_paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True), max_size=6)
_queries = st.one_of(st.just(""), st.from_regex(r"[A-Za-z0-9=&_.-]{1,40}", fullmatch=True))


@settings(max_examples=300)
@given(kind=st.sampled_from(["auth", "blob"]), scheme=st.sampled_from(["http", "https"]), host=_hosts,
       port=st.one_of(st.none(), st.integers(1, 65535)), segments=_paths, query=_queries)
def test_every_routed_url_is_routed_back_to_where_it_pointed(kind, scheme, host, port, segments, query):
    netloc = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{netloc}/{'/'.join(segments)}" + (f"?{query}" if query else "")
    route = parse_route(route_path(kind, url))
    assert route is not None
    expected = urlsplit(url)
    assert (route.kind, route.scheme, route.host) == (kind, scheme, host)
    assert route.port == (port or (443 if scheme == "https" else 80))
    assert route.path == (expected.path or "/") + (f"?{query}" if query else "")


def test_registry_paths_are_not_routes():
    assert parse_route("/v2/library/tiny/manifests/latest") is None
    assert parse_route("/_pulltrace/other/https/x/y") is None


def _flow(path: str, *, method: str = "GET", headers: tuple = ()):
    req = tutils.treq(method=method.encode(), host="hub.pulltrace.test", port=443, scheme=b"https",
                      path=path.encode(), headers=((b"host", b"127.0.0.1:5999"), *headers))
    client = tflow.tclient_conn()
    client.timestamp_tls_setup = None  # the mirror is plain HTTP
    client.tls = False
    return tflow.tflow(req=req, client_conn=client)


def _challenge(addon: MirrorRoutes, realm: str = "https://auth.pulltrace.test/token") -> None:
    f = _flow("/v2/")
    addon.requestheaders(f)
    f.response = tutils.tresp(status_code=401, headers=((b"www-authenticate",
                                                        f'Bearer realm="{realm}",service="hub"'.encode()),))
    addon.response(f)


def test_the_challenge_is_rewritten_for_the_client_and_its_realm_host_is_routed():
    addon = MirrorRoutes(HUB)
    f = _flow("/v2/")
    addon.requestheaders(f)
    assert f.request.host_header == "hub.pulltrace.test"  # the registry sees its own name
    f.response = tutils.tresp(status_code=401, headers=((b"www-authenticate",
                                                        b'Bearer realm="https://auth.pulltrace.test/token"'),))
    addon.response(f)
    assert f.response.headers["www-authenticate"] == \
        'Bearer realm="http://127.0.0.1:5999/_pulltrace/auth/https/auth.pulltrace.test/token"'

    token = _flow("/_pulltrace/auth/https/auth.pulltrace.test/token", method="POST",
                  headers=((b"authorization", b"Basic YWxpY2U6cA=="),))
    addon.requestheaders(token)
    assert token.response is None
    assert token.request.url == "https://auth.pulltrace.test/token"
    assert token.request.host_header == "auth.pulltrace.test"
    assert token.request.method == "POST"
    assert token.request.headers["authorization"] == "Basic YWxpY2U6cA=="  # the realm gets the credentials


def test_a_blob_route_drops_the_registry_token_like_a_cross_origin_redirect():
    addon = MirrorRoutes(HUB)
    f = _flow("/v2/library/tiny/blobs/sha256:ab")
    addon.requestheaders(f)
    f.response = tutils.tresp(status_code=307, headers=((b"location", b"https://cdn.pulltrace.test/data?sig=1"),))
    addon.response(f)
    assert f.response.headers["location"] == BASE + "/_pulltrace/blob/https/cdn.pulltrace.test/data?sig=1"

    cdn = _flow("/_pulltrace/blob/https/cdn.pulltrace.test/data?sig=1", method="HEAD",
                headers=((b"authorization", b"Bearer tok"), (b"range", b"bytes=0-9")))
    addon.requestheaders(cdn)
    assert cdn.request.url == "https://cdn.pulltrace.test/data?sig=1"
    assert "authorization" not in cdn.request.headers
    assert cdn.request.headers["range"] == "bytes=0-9"
    assert cdn.request.method == "HEAD"


def test_a_host_the_mirror_never_sent_anyone_to_is_refused():
    addon = MirrorRoutes(HUB)
    _challenge(addon)
    f = _flow("/_pulltrace/blob/https/elsewhere.example/secret")
    addon.requestheaders(f)
    assert f.response is not None and f.response.status_code == 403
    assert b"elsewhere.example is not a host this mirror sent a client to" in f.response.content


def test_a_streamed_answer_is_rewritten_before_its_headers_leave():
    addon = MirrorRoutes(HUB)
    f = _flow("/v2/x/blobs/sha256:1")
    addon.requestheaders(f)
    f.response = tutils.tresp(status_code=302, headers=((b"location", b"https://cdn.example/o"),))
    f.response.stream = True
    addon.responseheaders(f)
    assert f.response.headers["location"] == BASE + "/_pulltrace/blob/https/cdn.example/o"
    addon.response(f)  # not rewritten twice
    assert f.response.headers["location"] == BASE + "/_pulltrace/blob/https/cdn.example/o"


def test_containerd_config_names_the_registry_and_the_mirror():
    assert print_config("containerd", parse_upstream("docker.io"), "127.0.0.1:5000") == (
        "# /etc/containerd/certs.d/docker.io/hosts.toml (or ctr --hosts-dir DIR: DIR/docker.io/hosts.toml)\n"
        'server = "https://registry-1.docker.io"\n\n'
        '[host."http://127.0.0.1:5000"]\n'
        '  capabilities = ["pull", "resolve"]\n')


def test_docker_config_is_a_registry_mirror_for_docker_hub_only():
    assert '{"registry-mirrors": ["http://10.0.0.5:5000"]}' in print_config(
        "docker", parse_upstream("docker.io"), "10.0.0.5:5000")
    other = print_config("docker", parse_upstream("ghcr.io"), "10.0.0.5:5000")
    assert "registry-mirrors" not in other.replace("# dockerd uses registry-mirrors", "")
    assert "docker pull 10.0.0.5:5000/REPOSITORY:TAG" in other


def test_podman_config_is_a_registries_conf_mirror():
    assert print_config("podman", parse_upstream("quay.io"), "127.0.0.1:5000") == (
        "# /etc/containers/registries.conf.d/pulltrace-mirror.conf (remove it to undo)\n"
        "[[registry]]\n"
        'location = "quay.io"\n\n'
        "[[registry.mirror]]\n"
        'location = "127.0.0.1:5000"\n'
        "insecure = true\n")
