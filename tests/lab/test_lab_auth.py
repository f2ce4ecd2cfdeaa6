"""auth.pulltrace.test: the token service as clients meet it (GET, OAuth2 POST, refusals)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from labhelpers import get_manifest, skopeo

from pulltrace.auth import parse_challenges

pytestmark = pytest.mark.lab


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_wrong_password_gets_401_with_json_error(lab):
    with lab.client() as client:
        resp = client.get(lab.url("auth") + "/token", params={"service": lab.endpoints["hub"].service},
                          auth=("alice", "wrong"))
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert parse_challenges(resp.headers["WWW-Authenticate"])[0].is_basic


def test_token_shape_matches_docker_hub(lab):
    with lab.client() as client:
        resp = client.get(lab.url("auth") + "/token",
                          params={"service": lab.endpoints["hub"].service, "scope": "repository:library/tiny:pull"})
    body = resp.json()
    assert resp.status_code == 200
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "RS256" and len(header["x5c"]) == 1
    claims = _claims(body["token"])
    assert claims["aud"] == lab.endpoints["hub"].service
    assert claims["access"] == [{"type": "repository", "name": "library/tiny", "actions": ["pull"]}]


def test_alice_is_refused_private_secret(lab):
    token = lab.token("alice", "repository:private/secret:pull")
    assert _claims(token)["access"][0]["actions"] == []
    with lab.client() as client:
        resp = get_manifest(client, lab.url("hub"), "private/secret", "latest", token)
    assert resp.status_code == 401
    assert parse_challenges(resp.headers["WWW-Authenticate"])[0].error == "insufficient_scope"
    proc = skopeo("inspect", "--creds", "alice:alice-pass",
                  f"docker://{lab.host('hub')}/private/secret:latest", check=False)
    assert proc.returncode != 0
    assert "unauthorized" in proc.stderr.lower() or "denied" in proc.stderr.lower()


def test_alice_may_pull_team_app_and_anonymous_may_not(lab):
    image = lab.images["team/app"]
    ref = f"docker://{lab.host('hub')}/team/app:latest"
    out = json.loads(skopeo("inspect", "--creds", "alice:alice-pass", ref).stdout)
    assert out["Digest"] == image.digest
    anonymous = skopeo("inspect", "--no-creds", ref, check=False)
    assert anonymous.returncode != 0
    with lab.client() as client:
        resp = get_manifest(client, lab.url("hub"), "team/app", "latest", lab.token(None, "repository:team/app:pull"))
    assert resp.status_code == 401


def test_oauth2_password_then_refresh_token(lab):
    form = {"grant_type": "password", "username": "alice", "password": "alice-pass",
            "service": lab.endpoints["hub"].service, "scope": "repository:team/app:pull repository:library/tiny:pull",
            "client_id": "pulltrace-tests", "access_type": "offline"}
    with lab.client() as client:
        first = client.post(lab.url("auth") + "/token", data=form)
        assert first.status_code == 200, first.text
        body = first.json()
        assert {"access_token", "expires_in", "issued_at", "scope", "refresh_token"} <= body.keys()
        assert [a["actions"] for a in _claims(body["access_token"])["access"]] == [["pull"], ["pull"]]
        second = client.post(lab.url("auth") + "/token", data={
            "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
            "service": lab.endpoints["hub"].service,
            "scope": "repository:team/app:pull", "client_id": "pulltrace-tests"})
        assert second.status_code == 200, second.text
        token = second.json()["access_token"]
        assert "refresh_token" not in second.json()
        assert get_manifest(client, lab.url("hub"), "team/app", "latest", token).status_code == 200
        bad = client.post(lab.url("auth") + "/token", data={**form, "password": "nope"})
    assert bad.status_code == 401


def test_offline_token_yields_refresh_token(lab):
    with lab.client() as client:
        resp = client.get(lab.url("auth") + "/token",
                          params={"service": lab.endpoints["hub"].service, "account": "alice", "client_id": "docker",
                                  "offline_token": "true"},
                          auth=("alice", "alice-pass"))
        anonymous = client.get(lab.url("auth") + "/token",
                               params={"service": lab.endpoints["hub"].service, "offline_token": "true"})
    assert resp.status_code == 200 and resp.json()["refresh_token"]
    assert "refresh_token" not in anonymous.json()


def test_brief_token_expires_mid_pull(lab):
    lifetime = lab.settings.brief_lifetime
    with lab.client() as client:
        resp = client.get(lab.url("auth") + "/token", auth=("brief", "brief-pass"),
                          params={"service": lab.endpoints["hub"].service, "scope": "repository:private/secret:pull"})
        body = resp.json()
        assert body["expires_in"] == lifetime
        first = get_manifest(client, lab.url("hub"), "private/secret", "latest", body["token"])
        assert first.status_code == 200
        time.sleep(lifetime + 1.5)
        later = get_manifest(client, lab.url("hub"), "private/secret", "latest", body["token"])
    assert later.status_code == 401


def test_token_log_has_no_secrets(lab):
    lab.token("alice", "repository:team/app:pull")
    text = lab.log("token-requests").read_text()
    assert "alice-pass" not in text
    assert base64.b64encode(b"alice:alice-pass").decode() not in text
    assert '"user": "alice"' in text
