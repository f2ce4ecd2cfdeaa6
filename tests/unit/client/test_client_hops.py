"""Which redirects and token realms the client follows."""

from __future__ import annotations

import httpx
import pytest

from pulltrace.client.errors import UnsafeHop
from pulltrace.client.hops import check_hop, refuse_peer

REGISTRY = httpx.URL("https://registry.example/v2/a/blobs/sha256:" + "a" * 64)


def never(_: str) -> bool:
    return False


@pytest.mark.parametrize("target", [
    "https://cdn.example/x?sig=1", "https://registry.example:8443/x", "http://plain.example/x",
    "https://10.0.0.5/x", "https://[2001:db8::1]/x", "https://169.255.0.1/x",
])
def test_ordinary_hops_are_followed(target):
    origin = httpx.URL("http://registry.example/v2/") if target.startswith("http://") else REGISTRY
    check_hop(origin, httpx.URL(target), "redirect", never)


@pytest.mark.parametrize("target,reason", [
    ("http://169.254.169.254/latest/meta-data/", "it points at a cloud metadata address (169.254.169.254)"),
    ("http://[fd00:ec2::254]/", "it points at a cloud metadata address (fd00:ec2::254)"),
    ("http://100.100.100.200/", "it points at a cloud metadata address (100.100.100.200)"),
    ("https://[::ffff:a9fe:a9fe]/", "it points at a cloud metadata address (169.254.169.254)"),
    ("http://METADATA.google.internal./", "it points at a cloud metadata host (metadata.google.internal)"),
    ("https://169.254.0.1/x", "it points at a link-local address (169.254.0.1)"),
    ("https://[fe80::1%25eth0]/x", "it points at a link-local address (fe80::1)"),
    ("http://cdn.example/x", "it leaves HTTPS for plain HTTP; if cdn.example is a test server, allow it with "
                             "--insecure-registry cdn.example"),
    ("file:///etc/passwd", "a registry may only send a client to http(s) URLs"),
    ("ftp://cdn.example/x", "a registry may only send a client to http(s) URLs"),
])
def test_unsafe_hops_are_refused_in_one_line(target, reason):
    with pytest.raises(UnsafeHop) as e:
        check_hop(REGISTRY, httpx.URL(target), "redirect", never)
    assert str(e.value).startswith("refusing the redirect from registry.example to ")
    assert str(e.value).split(": ", 1)[1].startswith(reason)
    assert "?" not in str(e.value)  # a query (a signature) is never shown


def test_a_host_marked_insecure_may_be_plain_http_or_link_local_but_never_another_scheme():
    def insecure(host: str) -> bool:
        return host in ("cdn.example:8080", "169.254.1.1")

    check_hop(REGISTRY, httpx.URL("http://cdn.example:8080/x"), "redirect", insecure)
    check_hop(REGISTRY, httpx.URL("http://169.254.1.1/x"), "token realm", insecure)
    with pytest.raises(UnsafeHop, match="only send a client to http"):
        check_hop(REGISTRY, httpx.URL("gopher://cdn.example:8080/x"), "redirect", insecure)


def test_a_name_resolving_to_a_metadata_address_is_refused_at_connect():
    url = httpx.URL("https://innocent.example/token")
    with pytest.raises(UnsafeHop) as e:
        refuse_peer(url, ("169.254.169.254", 443), "token realm", never)
    assert str(e.value) == ("refusing the token realm to https://innocent.example/token: innocent.example resolves "
                            "to a cloud metadata address (169.254.169.254), which no registry needs; the registry "
                            "or its DNS is hostile")
    refuse_peer(url, ("93.184.216.34", 443), "token realm", never)
    refuse_peer(url, None, "token realm", never)
