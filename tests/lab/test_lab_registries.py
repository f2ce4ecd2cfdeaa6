"""gcr, harbor, proxy, plain: the other registry shapes the seeds record."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from labhelpers import bearer, get_manifest, sha256, skopeo

from pulltrace.auth import parse_challenges

pytestmark = pytest.mark.lab


def test_gcr_realm_on_same_host_and_blobs_302_with_json_body(lab):
    layer = lab.images["library/tiny"].layers[0]
    with lab.client() as client:
        ping = client.get(lab.url("gcr") + "/v2/")
        challenge = parse_challenges(ping.headers["WWW-Authenticate"])[0]
        assert challenge.realm == lab.url("gcr") + "/v2/token"
        token = client.get(challenge.realm, params={"service": challenge.service,
                                                    "scope": "repository:library/tiny:pull"}).json()["token"]
        assert get_manifest(client, lab.url("gcr"), "library/tiny", "latest", token).status_code == 200
        redirect = client.get(f"{lab.url('gcr')}/v2/library/tiny/blobs/{layer.digest}", headers=bearer(token))
        assert redirect.status_code == 302
        assert redirect.json() == {"errors": []}
        blob = client.get(redirect.headers["Location"])
    assert sha256(blob.content) == layer.digest


def test_skopeo_follows_gcr_302(lab, tmp_path):
    image = lab.images["library/three"]
    skopeo("copy", f"docker://{lab.host('gcr')}/library/three:latest", f"dir:{tmp_path}")
    for layer in image.layers:
        assert sha256((tmp_path / layer.digest.split(":")[1]).read_bytes()) == layer.digest


def test_harbor_token_path_service_and_direct_blobs(lab):
    layer = lab.images["library/tiny"].layers[0]
    with lab.client() as client:
        challenge = parse_challenges(client.get(lab.url("harbor") + "/v2/").headers["WWW-Authenticate"])[0]
        assert challenge.realm == lab.url("harbor") + "/service/token"
        assert challenge.service == "harbor-registry"
        resp = client.get(challenge.realm, auth=("admin", "admin-pass"), params={
            "account": "admin", "service": "harbor-registry", "scope": "repository:library/tiny:pull"})
        token = resp.json()["token"]
        assert get_manifest(client, lab.url("harbor"), "library/tiny", "latest", token).status_code == 200
        blob = client.get(f"{lab.url('harbor')}/v2/library/tiny/blobs/{layer.digest}", headers=bearer(token))
    assert blob.status_code == 200
    assert sha256(blob.content) == layer.digest


def test_proxy_prefixes_rewrite_realm_and_location(lab):
    layer = lab.images["library/tiny"].layers[0]
    base = lab.url("proxy")
    with lab.client() as client:
        ping = client.get(base + "/docker-registry/v2/")
        assert ping.status_code == 401
        challenge = parse_challenges(ping.headers["WWW-Authenticate"])[0]
        assert challenge.realm == base + "/docker-auth/token"
        token = client.get(challenge.realm, params={"service": challenge.service,
                                                    "scope": "repository:library/tiny:pull"}).json()["token"]
        assert get_manifest(client, base + "/docker-registry", "library/tiny", "latest", token).status_code == 200
        redirect = client.get(f"{base}/docker-registry/v2/library/tiny/blobs/{layer.digest}", headers=bearer(token))
        assert redirect.status_code == 307
        location = redirect.headers["Location"]
        assert location.startswith(base + "/docker-blob/")
        blob = client.get(location)
    assert sha256(blob.content) == layer.digest


def test_plain_http_registry_with_tls_verify_off(lab, tmp_path):
    image = lab.images["library/busybox"]
    ref = f"docker://{lab.host('plain')}/library/busybox:latest"
    out = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert out["Digest"] == image.digest
    skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path}")
    assert sha256((tmp_path / image.layers[0].digest.split(":")[1]).read_bytes()) == image.layers[0].digest
    assert urlsplit(lab.url("plain")).scheme == "http"
