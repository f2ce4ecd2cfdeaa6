from __future__ import annotations

import base64

import jwt
import pytest
from cryptography import x509

from pulltrace.auth import parse_challenges, parse_scope
from pulltrace.lab import pki, users
from pulltrace.lab.token_service import REGISTRY_LEEWAY, Signer, TokenService


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> TokenService:
    p = pki.ensure_pki(tmp_path_factory.mktemp("pki"), ["hub.pulltrace.test"])
    return TokenService(Signer.from_files(p.signing_key, p.signing_cert), lifetime=300, brief_lifetime=4)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _access(token: str) -> list[dict]:
    return jwt.decode(token, options={"verify_signature": False})["access"]


@pytest.mark.parametrize("user,scope,expected", [
    (users.ANONYMOUS, "repository:library/tiny:pull", ["pull"]),
    (users.ANONYMOUS, "repository:library/tiny:pull,push", ["pull"]),
    (users.ANONYMOUS, "repository:team/app:pull", []),
    (users.USERS["alice"], "repository:team/app:pull", ["pull"]),
    (users.USERS["alice"], "repository:library/tiny:pull", ["pull"]),
    (users.USERS["alice"], "repository:private/secret:pull", []),
    (users.USERS["alice"], "repository:team/app:push", []),
    (users.USERS["admin"], "repository:private/secret:pull,push", ["pull", "push"]),
    (users.USERS["admin"], "registry:catalog:*", ["*"]),
    (users.USERS["brief"], "repository:private/secret:pull", ["pull"]),
    (users.USERS["brief"], "registry:catalog:*", []),
])
def test_acl(user, scope, expected):
    assert users.granted_actions(user, parse_scope(scope)) == expected


def test_anonymous_get(service):
    reply = service.handle("GET", "/token?service=hub.pulltrace.test&scope=repository:library/tiny:pull")
    assert reply.status == 200
    assert reply.body["token"] == reply.body["access_token"]
    assert reply.body["expires_in"] == 300
    assert "refresh_token" not in reply.body
    claims = jwt.decode(reply.body["token"], options={"verify_signature": False})
    assert claims["aud"] == "hub.pulltrace.test" and claims["sub"] == ""
    assert claims["exp"] - claims["iat"] == 300


def test_token_verifies_against_its_x5c_certificate(service):
    token = service.handle("GET", "/token?service=s&scope=repository:library/tiny:pull").body["token"]
    cert = x509.load_der_x509_certificate(base64.b64decode(jwt.get_unverified_header(token)["x5c"][0]))
    claims = jwt.decode(token, cert.public_key(), algorithms=["RS256"], audience="s")
    assert claims["access"][0]["name"] == "library/tiny"


def test_several_scopes_and_refused_ones_keep_empty_actions(service):
    reply = service.handle(
        "GET", "/t?service=s&scope=repository:team/app:pull&scope=repository:private/secret:pull",
        _basic("alice", "alice-pass"))
    assert [a["actions"] for a in _access(reply.body["token"])] == [["pull"], []]


def test_wrong_password(service):
    reply = service.handle("GET", "/token?service=s", _basic("alice", "nope"))
    assert reply.status == 401
    assert reply.body["errors"][0]["code"] == "UNAUTHORIZED"
    assert parse_challenges(reply.headers["WWW-Authenticate"])[0].is_basic


def test_offline_token_needs_credentials(service):
    anon = service.handle("GET", "/token?service=s&offline_token=true")
    login = service.handle("GET", "/token?service=s&offline_token=true&client_id=docker&account=admin",
                           _basic("admin", "admin-pass"))
    assert "refresh_token" not in anon.body
    assert service.signer.refresh_subject(login.body["refresh_token"]) == "admin"


def test_oauth2_password_and_refresh(service):
    first = service.handle("POST", "/token", body=(
        b"grant_type=password&username=alice&password=alice-pass&service=s&client_id=c"
        b"&access_type=offline&scope=repository:team/app:pull+repository:library/tiny:pull"))
    assert first.status == 200
    assert first.body["scope"] == "repository:team/app:pull repository:library/tiny:pull"
    assert "token" not in first.body
    refreshed = service.handle("POST", "/token", body=(
        "grant_type=refresh_token&service=s&client_id=c&scope=repository:team/app:pull&refresh_token="
        + first.body["refresh_token"]).encode())
    assert refreshed.status == 200
    assert _access(refreshed.body["access_token"])[0]["actions"] == ["pull"]
    assert "refresh_token" not in refreshed.body


@pytest.mark.parametrize("body,status", [
    (b"grant_type=password&username=alice&password=x&service=s", 401),
    (b"grant_type=refresh_token&refresh_token=garbage&service=s", 401),
    (b"grant_type=client_credentials&service=s", 400),
])
def test_oauth2_refusals(service, body, status):
    assert service.handle("POST", "/token", body=body).status == status


def test_brief_tokens_are_short_and_account_for_registry_leeway(service):
    reply = service.handle("GET", "/token?service=s&scope=repository:private/secret:pull",
                           _basic("brief", "brief-pass"))
    assert reply.body["expires_in"] == 4
    claims = jwt.decode(reply.body["token"], options={"verify_signature": False})
    assert claims["exp"] + REGISTRY_LEEWAY - claims["iat"] == 4


def test_log_fields_hold_no_secrets(service):
    reply = service.handle("GET", "/token?service=s&offline_token=true", _basic("admin", "admin-pass"))
    text = repr(reply.log)
    assert "admin-pass" not in text and reply.body["token"] not in text
    assert reply.log["user"] == "admin"
