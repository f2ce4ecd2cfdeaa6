import pytest

from pulltrace.auth import (
    ChallengeError,
    ScopeError,
    TokenResponseError,
    parse_challenges,
    parse_scope,
    parse_token_response,
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
    with pytest.raises(ScopeError, match="expected type:name:actions"):
        parse_scope("nonsense")
    with pytest.raises(ValueError):  # callers that catch ValueError keep working
        parse_scope("repository:")


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


def test_long_hostile_header_gives_a_bounded_one_line_message():
    header = "Bearer service=\"x\x1b[2J\"," + "a" * 100_000
    with pytest.raises(ChallengeError) as e:
        parse_challenges(header)
    assert e.value.header == header
    message = str(e.value)
    assert len(message) < 300 and "\x1b" not in message and "\\x1b" in message


def test_token_request_from_a_url_with_a_broken_host():
    r = read_token_request("https://[broken/token?service=reg&scope=repository:a:pull")
    assert (r.service, r.scopes) == ("reg", ["repository:a:pull"])


def test_token_response_docker_hub_and_oauth_forms():
    hub = parse_token_response(
        b'{"token":"t1","access_token":"t1","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}'
    )
    assert (hub.token, hub.expires_in, hub.issued_at, hub.refresh_token) == ("t1", 300, "2024-01-01T00:00:00Z", None)
    assert hub.fields == ("access_token", "expires_in", "issued_at", "token")
    oauth = parse_token_response('{"access_token":"a2","refresh_token":"r2","scope":"repository:x:pull"}')
    assert (oauth.token, oauth.expires_in, oauth.refresh_token) == ("a2", None, "r2")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "token response is not valid JSON"),
        (b"[1]", "JSON list, not an object"),
        (b'{"expires_in": 300}', "holds no token"),
        (b'{"token": ["t"]}', "'token' is not a string"),
        (b'{"token": "t", "expires_in": "300"}', "'expires_in' is not a whole number"),
        (b'{"token": "t", "expires_in": 1e999}', "'expires_in' is not a whole number"),
        (b'{"token": "t", "expires_in": true}', "'expires_in' is not a whole number"),
        (b'{"token": "\xff"}', "not valid UTF-8: byte 0xff at offset 11"),
        (b"[" * 1200 + b"]" * 1200, "nested deeper than 64 levels"),
        (b'{"token": "' + b"t" * (1024 * 1024) + b'"}', "larger than 1048576 bytes"),
    ],
)
def test_bad_token_responses_say_what_is_wrong(body, message):
    with pytest.raises(TokenResponseError, match=message):
        parse_token_response(body)
