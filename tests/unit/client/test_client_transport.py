"""Redirect hops: Authorization and cookies never cross to another origin."""

from __future__ import annotations

import httpx
import pytest

from pulltrace.client.endpoints import Routing
from pulltrace.client.errors import ConnectionFailed, RegistryError, TLSFailure
from pulltrace.client.transport import redirect_request, same_origin, wrap_transport_error


def redirect(request: httpx.Request, status: int, location: str) -> httpx.Response:
    return httpx.Response(status, headers={"Location": location}, request=request)


def blob_request() -> httpx.Request:
    return httpx.Request("GET", "https://hub.pulltrace.test/v2/library/tiny/blobs/sha256:" + "a" * 64,
                         headers={"Authorization": "Bearer secret", "Cookie": "s=1", "Range": "bytes=10-"})


def test_cross_origin_redirect_drops_authorization_and_cookie_keeps_range():
    req = blob_request()
    nxt = redirect_request(req, redirect(req, 307, "https://cdn.pulltrace.test/docker/registry/v2/blobs/x/data?sig=1"))
    assert nxt.url.host == "cdn.pulltrace.test"
    assert "authorization" not in nxt.headers and "cookie" not in nxt.headers
    assert nxt.headers["Range"] == "bytes=10-"
    assert nxt.headers["Host"] == "cdn.pulltrace.test"


def test_same_origin_relative_redirect_keeps_headers():
    req = blob_request()
    nxt = redirect_request(req, redirect(req, 302, "/other/path"))
    assert nxt.url == httpx.URL("https://hub.pulltrace.test/other/path")
    assert nxt.headers["Authorization"] == "Bearer secret"


def test_scheme_or_port_change_is_another_origin():
    req = blob_request()
    for location in ("http://hub.pulltrace.test/x", "https://hub.pulltrace.test:8443/x"):
        assert "authorization" not in redirect_request(req, redirect(req, 301, location)).headers
    assert same_origin(httpx.URL("https://a/x"), httpx.URL("https://a:443/y"))


def test_303_becomes_get_and_blob_proxy_rewrites_the_cdn_hop():
    routing = Routing.build(blob_proxy="https://proxy.pulltrace.test/docker-blob", env={})
    req = blob_request()
    nxt = redirect_request(req, redirect(req, 307, "https://cdn.pulltrace.test/docker/registry/v2/blobs/ab/x/data?e=1"),
                           routing.rewrite_blob)
    assert str(nxt.url) == "https://proxy.pulltrace.test/docker-blob/docker/registry/v2/blobs/ab/x/data?e=1"
    assert "authorization" not in nxt.headers
    head = httpx.Request("POST", "https://a/x")
    assert redirect_request(head, redirect(head, 303, "/y")).method == "GET"


def test_transport_errors_become_one_line_messages():
    url = httpx.URL("https://gone.pulltrace.test/v2/")
    err = wrap_transport_error(httpx.ConnectError("[Errno -2] Name or service not known"), url)
    assert isinstance(err, ConnectionFailed) and "cannot reach gone.pulltrace.test" in str(err)
    err = wrap_transport_error(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), url)
    assert isinstance(err, TLSFailure) and "--ca-cert" in str(err)


# -- what a hostile registry answers ----------------------------------------------------------
from pulltrace.client.auth_flow import RegistryAuth  # noqa: E402
from pulltrace.client.errors import ResponseTooLarge, UnsafeHop  # noqa: E402
from pulltrace.client.recorder import Recorder  # noqa: E402
from pulltrace.client.transport import MANIFEST_LIMIT, Transport  # noqa: E402


class Endless(httpx.SyncByteStream):
    """A body that never ends, counting how much of it was read."""

    def __init__(self) -> None:
        self.read = 0

    def __iter__(self):
        while True:
            self.read += 65536
            yield b"x" * 65536


def transport_for(handler, insecure: frozenset[str] = frozenset()) -> Transport:
    return Transport(RegistryAuth(), Recorder(), insecure_hosts=insecure, http_transport=httpx.MockTransport(handler))


def test_a_body_without_length_is_refused_at_the_cap_while_it_streams():
    body = Endless()
    t = transport_for(lambda request: httpx.Response(200, stream=body))
    with pytest.raises(ResponseTooLarge) as e:
        t.request("GET", "https://r.example/v2/a/manifests/latest", limit=MANIFEST_LIMIT)
    assert str(e.value) == ("r.example sent a manifest larger than 4.2 MiB (more than that sent) for "
                            "https://r.example/v2/a/manifests/latest; refusing it — no registry needs one that large")
    assert body.read <= MANIFEST_LIMIT.nbytes + 65536
    [ex] = t.recorder.exchanges()
    assert ex.error == str(e.value)


def test_an_announced_length_over_the_cap_is_refused_before_reading():
    body = Endless()
    t = transport_for(lambda request: httpx.Response(200, headers={"Content-Length": str(10**12)}, stream=body))
    with pytest.raises(ResponseTooLarge, match=r"\(1000000000000 bytes announced\)"):
        t.request("GET", "https://r.example/v2/a/manifests/latest", limit=MANIFEST_LIMIT)
    assert body.read == 0


def test_a_token_body_is_capped_at_1_mib():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return httpx.Response(200, content=b'{"token": "' + b"a" * (2 << 20) + b'"}')
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.example/token"'})

    with pytest.raises(ResponseTooLarge, match="^auth.example sent a token response larger than 1.0 MiB"):
        transport_for(handler).request("GET", "https://r.example/v2/a/manifests/latest")


def test_redirects_and_realms_to_unsafe_places_are_refused_before_any_request():
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if "/blobs/" in request.url.path:
            return httpx.Response(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="file:///etc/shadow"'})

    t = transport_for(handler)
    with pytest.raises(UnsafeHop, match="^refusing the redirect from r.example to http://169.254.169.254/latest/"):
        t.request("GET", "https://r.example/v2/a/blobs/sha256:" + "a" * 64)
    with pytest.raises(UnsafeHop, match="^refusing the token realm from r.example to file:///etc/shadow: a registry"):
        t.request("GET", "https://r.example/v2/a/manifests/latest")
    assert all(u.startswith("https://r.example/") for u in asked)


def test_a_malformed_location_is_one_line():
    t = transport_for(lambda request: httpx.Response(302, headers={"Location": "https://[::1/x"}))
    with pytest.raises(RegistryError, match=r"^r.example answered a redirect with a malformed Location \(Invalid URL"):
        t.request("GET", "https://r.example/v2/a/blobs/sha256:" + "a" * 64)


def test_tls_failures_name_the_host_in_its_role():
    e = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate")
    registry = httpx.URL("https://hub.example/v2/")
    token = wrap_transport_error(e, httpx.URL("https://auth.example:8443/token"), "token service", registry)
    assert str(token) == ("TLS failure talking to the token service auth.example:8443 (the realm hub.example's "
                          "challenge named): [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
                          "certificate; trust the CA that signed auth.example:8443's certificate with --ca-cert FILE")
    cdn = wrap_transport_error(e, httpx.URL("https://cdn.example/x"), "download host", registry)
    assert str(cdn).startswith("TLS failure talking to the download host cdn.example (a redirect from hub.example)")
    assert "--insecure-registry" not in str(cdn)
    assert str(wrap_transport_error(e, registry)).endswith("--ca-cert FILE or, for a test registry, "
                                                           "--insecure-registry hub.example")


class _Stream:
    def __init__(self, addr: tuple[str, int]) -> None:
        self.addr = addr

    def get_extra_info(self, name: str) -> object:
        return self.addr if name == "server_addr" else None


def test_the_peer_of_a_realm_is_checked_when_the_connection_is_made():
    from pulltrace.client.transport import _PeerCheck

    seen: list[str] = []
    check = _PeerCheck(lambda event, info: seen.append(event), httpx.URL("https://auth.example/token"),
                       "token service", lambda host: False)
    check("connection.connect_tcp.started", {})
    check("connection.connect_tcp.complete", {"return_value": _Stream(("10.1.2.3", 443))})
    with pytest.raises(UnsafeHop, match=r"auth.example resolves to a link-local address \(169.254.3.4\)"):
        check("connection.connect_tcp.complete", {"return_value": _Stream(("169.254.3.4", 443))})
    assert seen == ["connection.connect_tcp.started"] + ["connection.connect_tcp.complete"] * 2
