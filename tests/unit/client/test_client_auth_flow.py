"""The auth generator driven directly with responses shaped like the seed transcripts."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from pulltrace.auth import parse_challenges
from pulltrace.client.auth_flow import (
    MINIMUM_TOKEN_LIFETIME,
    RegistryAuth,
    _error_detail,
    auth_space,
    read_token_response,
    scopes_for,
    token_request,
)
from pulltrace.client.credentials import Credentials
from pulltrace.client.errors import AuthError
from pulltrace.client.registry import error_codes

HUB_CHALLENGE = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                 'scope="repository:library/alpine:pull"')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reply(request: httpx.Request, status: int, headers: dict | list | None = None,
          body: object = b"") -> httpx.Response:
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return httpx.Response(status, headers=headers or {}, content=body, request=request)


def token_body(token: str, expires_in: int | None = 300, **extra: object) -> dict:
    body: dict = {"token": token, "access_token": token, **extra}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return body


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


def test_docker_hub_ping_then_manifest_fetches_token_proactively():
    auth = RegistryAuth(clock=Clock())
    ping = httpx.Request("GET", "https://registry-1.docker.io/v2/")
    flow = auth.flow(ping)
    assert next(flow) is ping
    with pytest.raises(StopIteration):
        # The ping's 401 only teaches the challenge (docker does not fetch a token for it).
        flow.send(reply(ping, 401, {"WWW-Authenticate": 'Bearer realm="https://auth.docker.io/token",'
                                                        'service="registry.docker.io"'}))

    manifest = httpx.Request("HEAD", "https://registry-1.docker.io/v2/library/alpine/manifests/latest")
    flow = auth.flow(manifest)
    token_req = next(flow)
    assert token_req.method == "GET"
    assert token_req.url.host == "auth.docker.io"
    assert query(token_req) == {"service": ["registry.docker.io"], "scope": ["repository:library/alpine:pull"]}
    assert "authorization" not in token_req.headers  # anonymous
    again = flow.send(reply(token_req, 200, body=token_body("tok-1")))
    assert again is manifest
    assert manifest.headers["Authorization"] == "Bearer tok-1"
    with pytest.raises(StopIteration):
        flow.send(reply(manifest, 200))

    # The next request in the same repository reuses the token: no token request.
    blob = httpx.Request("GET", "https://registry-1.docker.io/v2/library/alpine/blobs/sha256:" + "a" * 64)
    flow = auth.flow(blob)
    assert next(flow) is blob
    assert blob.headers["Authorization"] == "Bearer tok-1"


def test_first_request_without_ping_answers_the_challenge_and_retries():
    auth = RegistryAuth(clock=Clock())
    req = httpx.Request("GET", "https://registry-1.docker.io/v2/library/alpine/manifests/latest")
    flow = auth.flow(req)
    assert next(flow) is req and "authorization" not in req.headers
    token_req = flow.send(reply(req, 401, {"WWW-Authenticate": HUB_CHALLENGE}))
    assert query(token_req)["scope"] == ["repository:library/alpine:pull"]
    retry = flow.send(reply(token_req, 200, body={"access_token": "only-access", "expires_in": 300}))
    assert retry.headers["Authorization"] == "Bearer only-access"
    with pytest.raises(StopIteration):
        flow.send(reply(retry, 200))


def test_gcr_realm_on_the_same_host():
    auth = RegistryAuth(clock=Clock())
    req = httpx.Request("GET", "https://gcr.io/v2/google-containers/kube-controller-manager/manifests/v1.9.0")
    flow = auth.flow(req)
    next(flow)
    token_req = flow.send(reply(req, 401, {"WWW-Authenticate": 'Bearer realm="https://gcr.io/v2/token",'
                                                             'service="gcr.io",scope="repository:google-containers/kube-controller-manager:pull"'}))
    assert str(token_req.url).startswith("https://gcr.io/v2/token?")
    assert query(token_req)["service"] == ["gcr.io"]
    retry = flow.send(reply(token_req, 200, body={"token": "gcr-tok"}))  # no expires_in at all
    assert retry.headers["Authorization"] == "Bearer gcr-tok"


def test_quay_ping_html_body_and_credentials_sent_to_the_realm_only():
    creds = Credentials("robot", "s3cret")
    seen_urls = []

    def credentials_for(url: httpx.URL):
        seen_urls.append(url.host)
        return creds if url.host == "quay.io" else None

    auth = RegistryAuth(credentials_for, clock=Clock())
    ping = httpx.Request("GET", "https://quay.io/v2/")
    flow = auth.flow(ping)
    next(flow)
    with pytest.raises(StopIteration):
        flow.send(reply(ping, 401, {"WWW-Authenticate": 'Bearer realm="https://quay.io/v2/auth",service="quay.io"',
                                    "Content-Type": "text/html; charset=utf-8"}, b"true"))
    req = httpx.Request("GET", "https://quay.io/v2/coreos/etcd/manifests/latest")
    flow = auth.flow(req)
    token_req = next(flow)
    assert query(token_req)["account"] == ["robot"]
    raw = base64.b64decode(token_req.headers["Authorization"].split()[1]).decode()
    assert raw == "robot:s3cret"
    retry = flow.send(reply(token_req, 200, body=token_body("quay-tok")))
    assert retry.headers["Authorization"] == "Bearer quay-tok"


def test_harbor_realm_service_and_scope_as_in_seed_003():
    auth = RegistryAuth(lambda url: Credentials("admin", "Harbor12345"), clock=Clock())
    req = httpx.Request("HEAD", "https://harbor.example.com/v2/library/nginx/manifests/1.19")
    flow = auth.flow(req)
    next(flow)
    token_req = flow.send(reply(req, 401, {"WWW-Authenticate": 'Bearer realm="https://harbor.example.com/service/token",'
                                                             'service="harbor-registry"'}))
    assert token_req.url.path == "/service/token"
    assert parse_qsl(token_req.url.query.decode()) == [
        ("account", "admin"), ("service", "harbor-registry"), ("scope", "repository:library/nginx:pull")]


def test_realm_that_already_carries_a_query_string_and_no_service():
    auth = RegistryAuth(clock=Clock())
    req = httpx.Request("GET", "https://r.example/v2/team/app/manifests/1")
    flow = auth.flow(req)
    next(flow)
    token_req = flow.send(reply(req, 401, {"WWW-Authenticate": 'Bearer realm="https://auth.example/token?tenant=7&x=1"'}))
    pairs = parse_qsl(token_req.url.query.decode())
    assert pairs == [("tenant", "7"), ("x", "1"), ("scope", "repository:team/app:pull")]
    assert "service" not in dict(pairs)


def test_several_scopes_are_repeated_parameters():
    challenge = parse_challenges('Bearer realm="https://a/token",service="s"')[0]
    req = token_request(challenge, ["repository:a/b:pull", "repository:c/d:pull"], None)
    assert query(req)["scope"] == ["repository:a/b:pull", "repository:c/d:pull"]


def test_insufficient_scope_is_answered_with_the_scope_the_challenge_names():
    auth = RegistryAuth(clock=Clock())
    req = httpx.Request("GET", "https://r.example/v2/team/app/blobs/sha256:" + "b" * 64)
    flow = auth.flow(req)
    next(flow)
    first = flow.send(reply(req, 401, {"WWW-Authenticate": 'Bearer realm="https://a/token",service="r"'}))
    retry = flow.send(reply(first, 200, body=token_body("narrow")))
    # The registry wants more than a pull of this repository (a cross-repository mount source).
    wider = flow.send(reply(retry, 401, {"WWW-Authenticate":
        'Bearer realm="https://a/token",service="r",scope="repository:team/app:pull repository:team/base:pull",'
        'error="insufficient_scope"'}))
    assert query(wider)["scope"] == ["repository:team/app:pull", "repository:team/base:pull"]
    final = flow.send(reply(wider, 200, body=token_body("wide")))
    assert final.headers["Authorization"] == "Bearer wide"
    with pytest.raises(StopIteration):
        flow.send(reply(final, 200))


def test_insufficient_scope_with_a_fresh_token_is_final_no_loop():
    auth = RegistryAuth(clock=Clock())
    req = httpx.Request("GET", "https://r.example/v2/private/secret/manifests/latest")
    flow = auth.flow(req)
    next(flow)
    challenge = {"WWW-Authenticate": 'Bearer realm="https://a/token",service="r",'
                                     'scope="repository:private/secret:pull",error="insufficient_scope"'}
    token_req = flow.send(reply(req, 401, challenge))
    retry = flow.send(reply(token_req, 200, body=token_body("empty-actions")))
    with pytest.raises(StopIteration):
        flow.send(reply(retry, 401, challenge))  # the caller sees the 401: access denied


def test_expired_token_is_renewed_and_the_request_retried():
    clock = Clock()
    auth = RegistryAuth(clock=clock)
    url = "https://r.example/v2/library/big/blobs/sha256:" + "c" * 64
    req = httpx.Request("GET", url)
    flow = auth.flow(req)
    next(flow)
    token_req = flow.send(reply(req, 401, {"WWW-Authenticate": 'Bearer realm="https://a/token",service="r"'}))
    retry = flow.send(reply(token_req, 200, body=token_body("t1", expires_in=4)))
    with pytest.raises(StopIteration):
        flow.send(reply(retry, 200))

    # 30 s later: within docker's 60 s floor, so t1 is still used — and the registry says it expired.
    clock.now += 30
    req2 = httpx.Request("GET", url)
    flow = auth.flow(req2)
    assert next(flow).headers["Authorization"] == "Bearer t1"
    renew = flow.send(reply(req2, 401, {"WWW-Authenticate": 'Bearer realm="https://a/token",service="r",'
                                                          'error="invalid_token"'}))
    assert renew.url.host == "a"
    retry = flow.send(reply(renew, 200, body=token_body("t2", expires_in=4)))
    assert retry.headers["Authorization"] == "Bearer t2"
    with pytest.raises(StopIteration):
        flow.send(reply(retry, 200))
    assert auth.renewals == 1


def test_token_lifetime_floor_and_expiry_by_clock():
    clock = Clock()
    req = httpx.Request("GET", "https://a/token")
    token = read_token_response(reply(req, 200, body=token_body("x", expires_in=4)), clock.now)
    assert token.expires_at == clock.now + MINIMUM_TOKEN_LIFETIME
    token = read_token_response(reply(req, 200, body=token_body("x", expires_in=300)), clock.now)
    assert token.valid(clock.now + 299) and not token.valid(clock.now + 300)

    # Past expires_in the flow fetches a new token before sending, without a 401 round trip.
    auth = RegistryAuth(clock=clock)
    auth.remember(httpx.URL("https://r/v2/"), parse_challenges('Bearer realm="https://a/token"')[0])
    flow = auth.flow(httpx.Request("GET", "https://r/v2/x/manifests/1"))
    first = next(flow)
    sent = flow.send(reply(first, 200, body=token_body("old", expires_in=120)))
    assert sent.headers["Authorization"] == "Bearer old"
    clock.now += 121
    flow = auth.flow(httpx.Request("GET", "https://r/v2/x/manifests/1"))
    assert next(flow).url.host == "a"


def test_refresh_token_issued_by_the_registry_is_used_next_time():
    clock = Clock()
    auth = RegistryAuth(lambda url: Credentials("alice", "alice-pass"), clock=clock)
    auth.remember(httpx.URL("https://r/v2/"), parse_challenges('Bearer realm="https://a/token",service="r"')[0])
    flow = auth.flow(httpx.Request("GET", "https://r/v2/team/app/manifests/1"))
    first = next(flow)
    assert first.method == "GET"
    flow.send(reply(first, 200, body=token_body("t1", expires_in=60, refresh_token="rt-1")))
    clock.now += 61
    flow = auth.flow(httpx.Request("GET", "https://r/v2/team/app/manifests/1"))
    post = next(flow)
    assert post.method == "POST" and post.url == httpx.URL("https://a/token")
    form = dict(parse_qsl(post.content.decode()))
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "rt-1"
    assert form["scope"] == "repository:team/app:pull" and form["service"] == "r"
    assert "authorization" not in post.headers  # the password is not needed any more


def test_identity_token_from_docker_config_uses_oauth2_and_falls_back_on_404():
    auth = RegistryAuth(lambda url: Credentials("alice", "alice-pass", identity_token="idt"), clock=Clock())
    auth.remember(httpx.URL("https://r/v2/"), parse_challenges('Bearer realm="https://a/token",service="r"')[0])
    flow = auth.flow(httpx.Request("GET", "https://r/v2/team/app/manifests/1"))
    post = next(flow)
    assert post.method == "POST"
    # A token service without the OAuth2 endpoint: docker falls back to GET with Basic.
    get = flow.send(reply(post, 404))
    assert get.method == "GET" and get.headers["Authorization"].startswith("Basic ")


def test_wrong_password_is_an_auth_error_naming_the_user():
    auth = RegistryAuth(lambda url: Credentials("admin", "nope"), clock=Clock())
    req = httpx.Request("GET", "https://r/v2/library/tiny/manifests/latest")
    flow = auth.flow(req)
    next(flow)
    token_req = flow.send(reply(req, 401, {"WWW-Authenticate": 'Bearer realm="https://a/token",service="r"'}))
    with pytest.raises(AuthError, match="refused user 'admin'.*incorrect username or password"):
        flow.send(reply(token_req, 401, {"WWW-Authenticate": 'Basic realm="token"'},
                        {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]}))


def test_basic_only_registry():
    auth = RegistryAuth(lambda url: Credentials("admin", "admin-pass"), clock=Clock())
    req = httpx.Request("GET", "https://basic/v2/library/tiny/manifests/latest")
    flow = auth.flow(req)
    next(flow)
    retry = flow.send(reply(req, 401, {"WWW-Authenticate": 'Basic realm="Registry Realm"'}))
    assert retry is req and retry.headers["Authorization"] == "Basic " + base64.b64encode(b"admin:admin-pass").decode()
    with pytest.raises(StopIteration):
        flow.send(reply(retry, 200))
    # Learnt: the next request carries Basic at once.
    nxt = httpx.Request("GET", "https://basic/v2/library/tiny/blobs/sha256:" + "d" * 64)
    assert next(auth.flow(nxt)).headers["Authorization"].startswith("Basic ")
    # A refused password is not sent again and again.
    flow = auth.flow(httpx.Request("GET", "https://basic/v2/library/tiny/manifests/1"))
    sent = next(flow)
    with pytest.raises(StopIteration):
        flow.send(reply(sent, 401, {"WWW-Authenticate": 'Basic realm="Registry Realm"'}))


def test_bearer_preferred_when_several_challenges():
    auth = RegistryAuth(lambda url: Credentials("u", "p"), clock=Clock())
    req = httpx.Request("GET", "https://r/v2/a/b/manifests/1")
    flow = auth.flow(req)
    next(flow)
    nxt = flow.send(reply(req, 401, [("WWW-Authenticate", 'Basic realm="r"'),
                                     ("WWW-Authenticate", 'Bearer realm="https://a/token",service="r"')]))
    assert nxt.url.host == "a"


def test_cross_host_redirect_target_gets_its_own_challenge_never_the_registry_token():
    creds = {"r": Credentials("admin", "admin-pass")}
    auth = RegistryAuth(lambda url: creds.get(url.host), clock=Clock())
    auth.remember(httpx.URL("https://r/v2/"), parse_challenges('Bearer realm="https://a/token",service="r"')[0])
    flow = auth.flow(httpx.Request("GET", "https://r/v2/a/b/blobs/sha256:" + "e" * 64))
    flow.send(reply(next(flow), 200, body=token_body("registry-token")))

    cdn = httpx.Request("GET", "https://cdn.example/docker/registry/v2/blobs/sha256/ee/" + "e" * 64 + "/data",
                        headers={"Authorization": "Bearer registry-token"})  # as if copied by mistake
    flow = auth.flow(cdn)
    first = next(flow)
    assert "authorization" not in first.headers
    token_req = flow.send(reply(first, 401, {"WWW-Authenticate": 'Bearer realm="https://cdn-auth.example/token",'
                                                               'service="cdn"'}))
    assert token_req.url.host == "cdn-auth.example"
    assert "authorization" not in token_req.headers  # the registry's credentials stay with the registry
    retry = flow.send(reply(token_req, 200, body=token_body("cdn-token")))
    assert retry.headers["Authorization"] == "Bearer cdn-token"


def test_reverse_proxy_prefix_is_its_own_auth_space():
    assert auth_space(httpx.URL("https://proxy/docker-registry/v2/library/a/manifests/1")) == "https://proxy:443/docker-registry"
    # A storage path holds `/v2/` too, but is no registry API URL.
    assert auth_space(httpx.URL("https://proxy/docker-blob/docker/registry/v2/blobs/sha256/aa/x/data")) is None
    assert auth_space(httpx.URL("https://cdn/docker/registry/v2/blobs/sha256/aa/" + "a" * 64 + "/data")) is None
    assert auth_space(httpx.URL("http://plain:5000/v2/")) == "http://plain:5000"
    assert auth_space(httpx.URL("https://cdn/path/data")) is None
    assert scopes_for(httpx.URL("https://proxy/docker-registry/v2/library/a/manifests/1")) == [
        "repository:library/a:pull"]
    assert scopes_for(httpx.URL("https://r/v2/")) == []
    # The one /v2/ grammar: an escaped slash is the same name; gcr's realm is not the API.
    assert scopes_for(httpx.URL("https://r/v2/team%2Fapp/manifests/1")) == ["repository:team/app:pull"]
    assert auth_space(httpx.URL("https://r/v2/token")) is None


def test_realm_rewritten_through_the_auth_proxy():
    auth = RegistryAuth(clock=Clock(), rewrite_realm=lambda realm: "https://proxy/docker-auth/token")
    req = httpx.Request("GET", "https://proxy/docker-registry/v2/library/a/manifests/1")
    flow = auth.flow(req)
    next(flow)
    token_req = flow.send(reply(req, 401, {"WWW-Authenticate": 'Bearer realm="https://auth.docker.io/token",service="s"'}))
    assert str(token_req.url).startswith("https://proxy/docker-auth/token?service=s")


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"errors": 5}', b'"just a string"', b"\xff\xfe"])
def test_a_hostile_error_or_token_body_is_one_clear_error_not_a_traceback(body):
    request = httpx.Request("GET", "https://auth.example/token")
    response = httpx.Response(401, content=body, request=request)
    assert isinstance(_error_detail(response), str)
    assert error_codes(body) == []
    with pytest.raises(AuthError, match="token service https://auth.example/token answered"):
        read_token_response(httpx.Response(200, content=body, request=request), now=0.0)
