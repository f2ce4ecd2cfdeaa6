"""Where a hostile registry sends the client: redirects and token realms to plain HTTP,
link-local or cloud metadata addresses and other schemes are refused before any request."""

from __future__ import annotations

import pytest
from hostilehelpers import assert_refused, pull, trace_urls
from relay import rewrite_location, rewrite_realm

pytestmark = pytest.mark.lab

BLOB_PATH = "/docker/registry/v2/blobs/sha256/"


def test_redirect_from_https_to_http_is_refused_unless_the_host_is_marked_insecure(lab, relay, tmp_path, capsys):
    plain_cdn = relay("cdn", tls=False)
    target = f"{lab.host('cdn')}:{plain_cdn.port}"
    hub = relay("hub", rewrite_location(f"http://{target}"))
    ref = f"{lab.host('hub')}:{hub.port}/library/tiny"
    code, err, out = pull(capsys, tmp_path, ref, "--save-trace", str(tmp_path / "t.json"))
    assert_refused(code, err, out, f"refusing the redirect from {lab.host('hub')}:{hub.port} to http://{target}"
                                   f"{BLOB_PATH}")
    assert err.endswith(f": it leaves HTTPS for plain HTTP; if {target} is a test server, allow it with "
                        f"--insecure-registry {target}\n")
    assert plain_cdn.requests == []
    assert not [u for u in trace_urls(tmp_path / "t.json") if u.startswith("http://")]
    # The user said this host is a test server: the same redirect is followed.
    code, err, out = pull(capsys, tmp_path, ref, "--insecure-registry", target)
    assert code == 0, err
    assert out.exists() and any(BLOB_PATH in r.path for r in plain_cdn.requests)


LOCATIONS = {
    "aws-metadata": ("http://169.254.169.254", "a cloud metadata address (169.254.169.254)"),
    "mapped-metadata": ("http://[::ffff:169.254.169.254]", "a cloud metadata address (169.254.169.254)"),
    "aws-ipv6-metadata": ("http://[fd00:ec2::254]", "a cloud metadata address (fd00:ec2::254)"),
    "gcp-metadata-name": ("http://metadata.google.internal", "a cloud metadata host (metadata.google.internal)"),
    "link-local-v4": ("https://169.254.10.20", "a link-local address (169.254.10.20)"),
    "link-local-v6": ("https://[fe80::1]", "a link-local address (fe80::1)"),
}


@pytest.mark.parametrize("case", LOCATIONS, ids=list(LOCATIONS))
def test_redirect_to_link_local_or_metadata_is_refused(lab, relay, tmp_path, capsys, case):
    base, problem = LOCATIONS[case]
    hub = relay("hub", rewrite_location(base))
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}:{hub.port}/library/tiny")
    assert_refused(code, err, out, f"refusing the redirect from {lab.host('hub')}:{hub.port} to ")
    assert f"{BLOB_PATH}" in err
    assert err.endswith(f": it points at {problem}, which no registry needs; the registry or a proxy on the "
                        "way is hostile\n")


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://cdn.pulltrace.test:70"])
def test_redirect_to_another_scheme_is_refused(lab, relay, tmp_path, capsys, location):
    hub = relay("hub", rewrite_location(location))
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}:{hub.port}/library/tiny")
    assert_refused(code, err, out, f"refusing the redirect from {lab.host('hub')}:{hub.port} to "
                                   f"{location.split('://')[0]}://")
    assert err.endswith(": a registry may only send a client to http(s) URLs\n")


REALMS = {
    "aws-metadata": ("http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                     ": it points at a cloud metadata address (169.254.169.254), which no registry needs; "
                     "the registry or a proxy on the way is hostile"),
    "gcp-metadata-name": ("https://metadata.google.internal/computeMetadata/v1/instance/token",
                          ": it points at a cloud metadata host (metadata.google.internal), which no registry "
                          "needs; the registry or a proxy on the way is hostile"),
    "link-local-v6": ("https://[fe80::a:1]/token", ": it points at a link-local address (fe80::a:1), which no "
                      "registry needs; the registry or a proxy on the way is hostile"),
    "file-scheme": ("file:///etc/shadow", ": a registry may only send a client to http(s) URLs"),
    "plain-http": ("http://auth.pulltrace.test/token", ": it leaves HTTPS for plain HTTP; if auth.pulltrace.test "
                   "is a test server, allow it with --insecure-registry auth.pulltrace.test"),
}


@pytest.mark.parametrize("case", REALMS, ids=list(REALMS))
def test_token_realm_to_metadata_link_local_other_scheme_or_plain_http_is_refused(lab, relay, tmp_path, capsys,
                                                                                  case):
    realm, reason = REALMS[case]
    hub = relay("hub", rewrite_realm(realm))
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}:{hub.port}/library/tiny",
                          "-u", "alice", "-p", "alice-pass", "--save-trace", str(tmp_path / "t.json"))
    assert_refused(code, err, out, f"refusing the token realm from {lab.host('hub')}:{hub.port} to ")
    assert err.endswith(reason + "\n")
    # The password never left: no request went to the realm.
    urls = trace_urls(tmp_path / "t.json")
    assert urls and all(u.startswith(f"https://{lab.host('hub')}:{hub.port}/v2/") for u in urls)
