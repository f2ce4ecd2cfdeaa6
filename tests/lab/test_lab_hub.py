"""hub.pulltrace.test: token auth on another host, blobs 307 → cdn (Docker Hub's shape)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from labhelpers import bearer, get_manifest, lines_with, sha256, size, skopeo

from pulltrace.auth import parse_challenges

pytestmark = pytest.mark.lab


def test_challenge_names_the_token_service(lab):
    with lab.client() as client:
        resp = client.get(lab.url("hub") + "/v2/")
    assert resp.status_code == 401
    (challenge,) = parse_challenges(resp.headers["WWW-Authenticate"])
    assert challenge.realm == lab.url("auth") + "/token"
    assert challenge.service == lab.endpoints["hub"].service


def test_skopeo_accepts_token_service_jwts(lab):
    image = lab.images["library/tiny"]
    out = skopeo("inspect", "--raw", f"docker://{lab.host('hub')}/library/tiny:latest").stdout
    assert sha256(out.encode()) == image.digest


def test_skopeo_copies_every_platform_of_an_index(lab, tmp_path):
    image = lab.images["library/multi-oci"]
    skopeo("copy", "--all", f"docker://{lab.host('hub')}/library/multi-oci:latest", f"oci:{tmp_path}/out:latest")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.digest
    for platform in image.platforms.values():
        assert (tmp_path / "out" / "blobs" / "sha256" / platform.layers[0].digest.split(":")[1]).exists()


def test_blob_redirects_307_to_cdn_which_serves_the_bytes_without_credentials(lab):
    image = lab.images["library/three"]
    layer = image.layers[1]
    token = lab.token(None, "repository:library/three:pull")
    cdn_log = lab.log("cdn-access")
    before = size(cdn_log)
    with lab.client() as client:
        assert get_manifest(client, lab.url("hub"), "library/three", "latest", token).status_code == 200
        redirect = client.get(f"{lab.url('hub')}/v2/library/three/blobs/{layer.digest}", headers=bearer(token))
        assert redirect.status_code == 307
        location = redirect.headers["Location"]
        assert urlsplit(location).hostname == lab.endpoints["cdn"].host
        # A client must not send the registry token to another host.
        blob = client.get(location)
    assert blob.status_code == 200
    assert sha256(blob.content) == layer.digest
    assert len(blob.content) == layer.size
    lines = lines_with(cdn_log, before, layer.digest.split(":")[1])
    assert lines and all("auth=absent" in line for line in lines)


def test_cdn_log_records_credentials_that_leak(lab):
    """The CDN log tells present from absent, so a leaking client is visible."""
    layer = lab.images["library/tiny"].layers[0]
    hexd = layer.digest.split(":")[1]
    cdn_log = lab.log("cdn-access")
    before = size(cdn_log)
    with lab.client() as client:
        url = f"{lab.url('cdn')}/docker/registry/v2/blobs/sha256/{hexd[:2]}/{hexd}/data"
        assert client.get(url, headers={"Authorization": "Bearer leaked"}).status_code == 200
    assert lines_with(cdn_log, before, hexd, "auth=present")
