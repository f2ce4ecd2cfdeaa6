"""The fault hosts: nginx in front of hub's registry answering as a failing registry or CDN.

quota. and ratelimit. reproduce Docker Hub's rate limit (headers, then 429 TOOMANYREQUESTS),
expired. a blob redirect to a presigned URL object storage refuses, loop. a redirect loop.
Everything else — images, users, tokens — is hub's, so only the fault differs.
"""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
from labhelpers import bearer, get_manifest, lines_with, sha256, size

from pulltrace.auth import parse_challenges
from pulltrace.lab import faults

pytestmark = pytest.mark.lab

FAULT_HOSTS = ("quota", "ratelimit", "expired", "expired-cdn", "loop", "loop-cdn")


def _blob_url(lab, name: str, digest: str, repo: str = "library/tiny") -> str:
    return f"{lab.url(name)}/v2/{repo}/blobs/{digest}"


@pytest.fixture(scope="module")
def token(lab):
    return lab.token(None, "repository:library/tiny:pull")


@pytest.mark.parametrize("name", FAULT_HOSTS)
def test_fault_endpoints_are_healthy(lab, name):
    status = lab.probe(lab.endpoints[name])
    assert status.healthy, f"{name}: {status.detail}"


@pytest.mark.parametrize("name", ("quota", "ratelimit", "expired", "loop"))
def test_fault_registries_challenge_like_hub_and_serve_its_images(lab, name, token):
    with lab.client() as client:
        ping = client.get(lab.url(name) + "/v2/")
        head = client.head(f"{lab.url(name)}/v2/library/tiny/manifests/latest",
                           headers={**bearer(token), "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert ping.status_code == 401
    (challenge,) = parse_challenges(ping.headers["WWW-Authenticate"])
    assert challenge.realm == lab.url("auth") + "/token"
    assert challenge.service == lab.endpoints[name].service == lab.endpoints["hub"].service
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == lab.images["library/tiny"].digest


def test_quota_headers_on_manifests(lab, token):
    with lab.client() as client:
        resp = get_manifest(client, lab.url("quota"), "library/tiny", "latest", token)
        ping = client.get(lab.url("quota") + "/v2/", headers=bearer(token))
    assert resp.status_code == 200
    assert sha256(resp.content) == lab.images["library/tiny"].digest
    assert resp.headers["RateLimit-Limit"] == "100;w=21600" == faults.RATE_LIMIT
    assert resp.headers["RateLimit-Remaining"] == f"{faults.QUOTA_REMAINING};w=21600"
    assert resp.headers["Docker-RateLimit-Source"] == "127.0.0.1"
    assert "Retry-After" not in resp.headers
    # Only manifests are counted, as on Docker Hub.
    assert ping.status_code == 200 and "RateLimit-Limit" not in ping.headers


def test_spent_quota_refuses_manifest_gets_with_429(lab, token):
    with lab.client() as client:
        resp = get_manifest(client, lab.url("ratelimit"), "library/tiny", "latest", token)
        by_digest = get_manifest(client, lab.url("ratelimit"), "library/tiny", lab.images["library/tiny"].digest, token)
    for r in (resp, by_digest):
        assert r.status_code == 429
        assert r.headers["Content-Type"] == "application/json"
        (error,) = r.json()["errors"]
        assert error["code"] == "TOOMANYREQUESTS" and "pull rate limit" in error["message"]
        assert r.headers["Retry-After"] == str(faults.RETRY_AFTER)
        assert r.headers["RateLimit-Limit"] == "100;w=21600"
        assert r.headers["RateLimit-Remaining"] == "0;w=21600"


def test_spent_quota_still_answers_the_challenge_heads_and_blobs(lab, token):
    """Docker Hub counts manifest GETs only: a token-less GET gets its 401, HEADs and blobs work."""
    layer = lab.images["library/tiny"].layers[0]
    with lab.client() as client:
        anonymous = get_manifest(client, lab.url("ratelimit"), "library/tiny", "latest")
        head = client.head(f"{lab.url('ratelimit')}/v2/library/tiny/manifests/latest", headers=bearer(token))
        blob = client.get(_blob_url(lab, "ratelimit", layer.digest), headers=bearer(token))
    assert anonymous.status_code == 401 and "Retry-After" not in anonymous.headers
    assert head.status_code == 200
    assert head.headers["RateLimit-Remaining"] == "0;w=21600" and "Retry-After" not in head.headers
    assert blob.status_code == 307 and urlsplit(blob.headers["Location"]).hostname == lab.endpoints["cdn"].host


def test_curl_sees_the_429(lab):
    """The same refusal through curl (system trust store), as a shell user would see it."""
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    token = lab.token(None, "repository:library/tiny:pull")
    proc = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", "-H", f"Authorization: Bearer {token}",
         f"{lab.url('ratelimit')}/v2/library/tiny/manifests/latest"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    status_line, *header_lines = proc.stdout.strip().splitlines()
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    assert status_line.split()[1] == "429"
    assert headers["retry-after"] == str(faults.RETRY_AFTER)
    assert headers["ratelimit-remaining"] == "0;w=21600"


def test_expired_presigned_url_is_refused_by_the_storage_host(lab, token):
    layer = lab.images["library/tiny"].layers[0]
    log = lab.log("expired-cdn-access")
    before = size(log)
    with lab.client() as client:
        redirect = client.get(_blob_url(lab, "expired", layer.digest), headers=bearer(token))
        assert redirect.status_code == 307
        location = redirect.headers["Location"]
        refused = client.get(location)
    url = urlsplit(location)
    assert url.hostname == lab.endpoints["expired-cdn"].host
    assert url.path.endswith(f"/{layer.digest.split(':')[1]}/data")
    query = parse_qs(url.query)
    assert query["X-Amz-Date"] == ["20231114T221320Z"] and query["X-Amz-Expires"] == ["1200"]
    assert "X-Amz-Signature" in query
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/xml"
    assert refused.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Error>')
    assert f"<Code>{faults.EXPIRED_CODE}</Code><Message>{faults.EXPIRED_MESSAGE}</Message>" in refused.text
    assert "<RequestId>" in refused.text and "$" not in refused.text  # nginx filled its variables
    # The storage host was asked without the registry's token.
    lines = lines_with(log, before, layer.digest.split(":")[1])
    assert lines and all("auth=absent" in line and " 403 " in line for line in lines)


def test_the_same_storage_path_on_the_lab_cdn_serves_the_blob(lab, token):
    """Only the signature is refused: the object exists, and the lab CDN serves it."""
    layer = lab.images["library/tiny"].layers[0]
    with lab.client() as client:
        location = client.get(_blob_url(lab, "expired", layer.digest), headers=bearer(token)).headers["Location"]
        served = client.get(lab.url("cdn") + urlsplit(location).path)
    assert served.status_code == 200 and sha256(served.content) == layer.digest


def test_blob_redirects_loop_between_registry_and_cdn(lab, token):
    blob = _blob_url(lab, "loop", lab.images["library/tiny"].layers[0].digest)
    with lab.client() as client:
        first = client.get(blob, headers=bearer(token))
        assert first.status_code == 307
        to_cdn = first.headers["Location"]
        back = client.get(to_cdn)
    assert urlsplit(to_cdn).hostname == lab.endpoints["loop-cdn"].host
    assert urlsplit(to_cdn).path == urlsplit(blob).path
    assert back.status_code == 307 and back.headers["Location"] == blob


def test_curl_gives_up_on_the_loop(lab, token):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    blob = _blob_url(lab, "loop", lab.images["library/tiny"].layers[0].digest)
    # Without the token the registry answers 401, so a redirect-following client must carry it
    # back to the registry host: curl's --location-trusted does, as dockerd's auth flow would.
    proc = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--location-trusted", "--max-redirs", "6", "-w", "%{num_redirects}",
         "-H", f"Authorization: Bearer {token}", blob],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 47, proc.stderr  # CURLE_TOO_MANY_REDIRECTS
    assert proc.stdout == "6"
