"""Redirect hops: Authorization and cookies never cross to another origin."""

from __future__ import annotations

import httpx

from pulltrace.client.endpoints import Routing
from pulltrace.client.errors import ConnectionFailed, TLSFailure
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
