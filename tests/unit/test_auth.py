import pytest

from pulltrace.auth import (
    ChallengeError,
    parse_challenges,
    parse_scope,
    parse_www_authenticate,
    read_token_request,
    repository_scope,
)


def test_docker_hub_challenge():
    [c] = parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"'
    )
    assert c.is_bearer
    assert c.realm == "https://auth.docker.io/token"
    assert c.service == "registry.docker.io"
    assert c.scope == "repository:library/alpine:pull"


def test_quoted_value_with_comma_stays_one_value():
    [c] = parse_challenges('Bearer realm="https://r/t",scope="repository:a/b:pull,push"')
    assert c.scope == "repository:a/b:pull,push"


def test_several_challenges_in_one_header_and_across_headers():
    cs = parse_challenges('Bearer realm="https://a/t", Basic realm="Registry Realm",charset="UTF-8"')
    assert [c.scheme for c in cs] == ["bearer", "basic"]
    assert cs[1].params == {"realm": "Registry Realm", "charset": "UTF-8"}
    cs = parse_www_authenticate(['Basic realm="x"', 'Bearer realm="https://y/t"'])
    assert [c.scheme for c in cs] == ["basic", "bearer"]


def test_realm_with_query_string_and_no_service():
    [c] = parse_challenges('Bearer realm="https://harbor/service/token?x=1&y=2"')
    assert c.realm == "https://harbor/service/token?x=1&y=2"
    assert c.service is None


def test_insufficient_scope_error_and_unquoted_values():
    [c] = parse_challenges(
        'Bearer realm="https://a/t",service=reg,error="insufficient_scope",scope="repository:x:pull"'
    )
    assert c.error == "insufficient_scope"
    assert c.service == "reg"


def test_escaped_quote_inside_value():
    [c] = parse_challenges(r'Basic realm="say \"hi\""')
    assert c.realm == 'say "hi"'


@pytest.mark.parametrize("header", ["", "   ", 'Bearer service="x"', '="x"', 'Bearer realm="a" junk'])
def test_malformed_challenge_raises_with_the_header(header):
    with pytest.raises(ChallengeError) as e:
        parse_challenges(header)
    assert e.value.header == header


def test_scope_values():
    s = parse_scope("repository:host:5000/a/b:pull,push")
    assert (s.type, s.name, s.actions) == ("repository", "host:5000/a/b", ("pull", "push"))
    assert repository_scope("library/alpine") == "repository:library/alpine:pull"
    with pytest.raises(ValueError):
        parse_scope("nonsense")


def test_token_request_get_and_oauth_post():
    r = read_token_request(
        "https://h/service/token?account=admin&client_id=docker&offline_token=true"
        "&service=harbor-registry&scope=repository:a:pull&scope=repository:b:pull,push"
    )
    assert r.account == "admin" and r.client_id == "docker" and r.offline_token
    assert r.scopes == ["repository:a:pull", "repository:b:pull,push"]
    assert r.service == "harbor-registry"
    r = read_token_request(
        "https://auth/token",
        "grant_type=refresh_token&service=s&scope=repository%3Aa%3Apull+repository%3Ab%3Apull&client_id=containerd",
    )
    assert r.grant_type == "refresh_token"
    assert r.scopes == ["repository:a:pull", "repository:b:pull"]
