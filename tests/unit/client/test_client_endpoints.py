from __future__ import annotations

import httpx
import pytest

from pulltrace.client.endpoints import EndpointError, Routing
from pulltrace.reference import parse_reference


def test_mirror_applies_to_docker_hub_names_only_unless_a_host_is_named():
    routing = Routing.build(["mirror.example/", "hub.pulltrace.test=https://mirror.pulltrace.test"], env={})
    hub = routing.endpoints(parse_reference("alpine"))
    assert [(e.base, e.kind) for e in hub] == [("https://mirror.example", "mirror"),
                                               ("https://registry-1.docker.io", "registry")]
    lab = routing.endpoints(parse_reference("hub.pulltrace.test/library/tiny"))
    assert [e.base for e in lab] == ["https://mirror.pulltrace.test", "https://hub.pulltrace.test"]
    assert [e.base for e in routing.endpoints(parse_reference("gcr.io/x/y"))] == ["https://gcr.io"]


def test_seed_002_environment_variables():
    env = {"DOCKER_REGISTRY_REVERSE_PROXY": "https://p.example/docker-registry",
           "DOCKER_AUTH_REVERSE_PROXY": "https://p.example/docker-auth/token",
           "DOCKER_BLOB_REVERSE_PROXY": "p.example/docker-blob/"}
    routing = Routing.build(env=env)
    [endpoint] = routing.endpoints(parse_reference("alpine"))
    assert endpoint.url("library/alpine/manifests/latest") == httpx.URL(
        "https://p.example/docker-registry/v2/library/alpine/manifests/latest")
    assert routing.rewrite_realm("https://auth.docker.io/token") == "https://p.example/docker-auth/token"
    assert routing.rewrite_realm("https://auth.docker.io/token?x=1") == "https://p.example/docker-auth/token?x=1"
    assert str(routing.rewrite_blob(httpx.URL("https://production.cloudflare.docker.com/registry-v2/x/data?v=2"))) == \
        "https://p.example/docker-blob/registry-v2/x/data?v=2"
    # Options win over the environment; a bare prefix for the auth proxy takes the realm's path.
    routing = Routing.build(auth_proxy="https://q.example/docker-auth", env=env)
    assert routing.rewrite_realm("https://auth.docker.io/token") == "https://q.example/docker-auth/token"


def test_insecure_hosts_match_with_or_without_port():
    routing = Routing.build(insecure=["plain.pulltrace.test:5000", "other"], env={})
    assert routing.is_insecure("plain.pulltrace.test:5000")
    assert routing.is_insecure("other:443")
    assert not routing.is_insecure("plain.pulltrace.test:6000")


def test_bad_mirror_url():
    with pytest.raises(EndpointError):
        Routing.build(["ftp://x"], env={})


def test_a_realm_already_under_the_auth_proxy_is_not_prefixed_again():
    """seed 002's nginx rewrites the realm to the proxy itself; a bare prefix must not double."""
    for given in ("https://p.example/docker-auth", "https://p.example/docker-auth/", "https://p.example/docker-auth/token"):
        routing = Routing.build(auth_proxy=given, env={})
        assert routing.rewrite_realm("https://p.example/docker-auth/token?service=x") == \
            "https://p.example/docker-auth/token?service=x"
        assert routing.rewrite_realm("https://auth.docker.io/token") == "https://p.example/docker-auth/token"
