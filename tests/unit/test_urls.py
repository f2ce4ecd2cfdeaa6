import pytest

from pulltrace.errors import UserError
from pulltrace.urls import InvalidURL, URLParts, host_port, join_url, split_url


def test_parts_of_a_registry_url():
    assert split_url("HTTPS://Alice:pw@Hub.Example:5000/v2/a/manifests/1?x=1#f") == URLParts(
        scheme="https", userinfo="Alice:pw", host="hub.example", port=5000,
        path="/v2/a/manifests/1", query="x=1", fragment="f",
    )


def test_authority_drops_default_ports_and_brackets_ipv6():
    assert split_url("https://h:443/v2/").authority == "h"
    assert split_url("http://[::1]:5000/v2/").authority == "[::1]:5000"
    assert host_port("https://user:secret@h:443/v2/") == "h:443"  # userinfo never shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://h:abc/v2/", "Port could not be cast to integer value as 'abc'"),
        ("https://h:99999/v2/", "Port out of range 0-65535"),
        ("https://[::1/v2/", "Invalid IPv6 URL"),
    ],
)
def test_broken_urls(url, message):
    with pytest.raises(InvalidURL) as e:
        split_url(url)
    assert message in str(e.value)
    assert isinstance(e.value, UserError)
    assert host_port(url) == ""


def test_join_url_resolves_a_location_and_keeps_one_it_cannot_parse():
    assert join_url("https://r.test/v2/a/blobs/x", "/data?sig=1") == "https://r.test/data?sig=1"
    assert join_url("https://r.test/v2/", "https://cdn.test/b") == "https://cdn.test/b"
    assert join_url("https://r.test/v2/", "https://[bad") == "https://[bad"
