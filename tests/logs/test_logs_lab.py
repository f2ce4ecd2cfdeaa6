"""Real pulls by docker, skopeo and ctr, seen only in the lab's own logs, read back as pulls.

Each test notes where the lab's logs end, pulls, and reads only the lines the pull appended
(nginx's access log for every lab host, the hub registry's log, the CDN's access log, ctr's
debug output), then checks the sessions against what the client did: the image and tag,
the steps in order, the blob redirects and the downloads they led to, the failures.
Other tests share the lab, so a slice may hold their pulls too: each test looks for its
own pull by image and client.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from logshelpers import Tail, assert_downloads_follow_redirects, kinds, pulls_of, report

pytestmark = pytest.mark.lab

DOCKER_NAME = "logs-pull"  # a daemon of our own: emptying it disturbs nobody
IMAGE = "library/three"


@pytest.fixture(scope="module")
def daemon(lab):
    d = lab.docker(DOCKER_NAME)
    yield d
    d.stop()


def _digests(lab) -> set[str]:
    return set(lab.images[IMAGE].blob_digests)


def test_docker_pull_seen_by_nginx_by_the_registry_and_by_the_cdn(lab, daemon, tmp_path):
    daemon.forget_images()
    tail = Tail("nginx-access.log", "registry-hub.log", "cdn-access.log", "token-requests.log")
    image = f"{lab.host('hub')}/{IMAGE}"
    daemon.docker("pull", image)
    nginx, registry, cdn, tokens = tail.copy(tmp_path)
    want = f"{image}:latest"

    # nginx in front of every host: the token request is in the same log.
    (s,) = pulls_of(report(nginx), want, "docker/")
    assert kinds(s) == ["ping", "token", "manifest-head", "manifest"] + ["blob-redirect"] * 4
    manifest = s.steps[3]
    assert manifest.reference == lab.images[IMAGE].digest  # dockerd: HEAD by tag, then GET by digest
    assert {st.reference for st in s.steps[4:]} == _digests(lab)
    assert s.steps[0].exchange.status == 401 and s.findings == []
    assert s.steps[1].facts.scopes == [f"repository:{IMAGE}:pull"]

    # The registry's own log: no token request (another service issues it); the CDN's log adds
    # the downloads each redirect led to, found by the digest in the storage path.
    (s,) = pulls_of(report(registry, cdn), want, "docker/")
    assert kinds(s)[:3] == ["ping", "manifest-head", "manifest"]
    assert sorted(kinds(s)[3:]) == ["blob-redirect"] * 4 + ["cdn-download"] * 4
    assert_downloads_follow_redirects(s)
    assert {st.reference for st in s.steps if st.kind.value == "cdn-download"} == _digests(lab)
    assert all(st.exchange.request_header("authorization") == "Bearer …" for st in s.steps[1:]
               if st.kind.value != "cdn-download")

    # All three services: the token service says what it granted.
    (s,) = pulls_of(report(registry, tokens, cdn), want, "docker/")
    assert "token" in kinds(s) and s.summary.scopes_granted == [f"repository:{IMAGE}:pull"]


def test_docker_pull_of_a_missing_tag_fails_the_same_way_in_every_log(lab, daemon, tmp_path):
    tail = Tail("nginx-access.log", "registry-hub.log")
    image = f"{lab.host('hub')}/library/tiny:nope"
    result = daemon.docker("pull", image, check=False)
    assert result.returncode != 0 and "manifest unknown" in result.stderr
    nginx, registry = tail.copy(tmp_path)
    errors = ["404 HEAD /v2/library/tiny/manifests/nope", "404 GET /v2/library/tiny/manifests/nope"]
    (s,) = pulls_of(report(nginx), image, "docker/")
    # A failed request keeps its kind and carries its error.
    assert kinds(s) == ["ping", "token", "manifest-head", "manifest"] and s.summary.errors == errors
    assert all(st.error for st in s.steps[2:])
    assert [f.rule for f in s.findings] == ["manifest.unknown"]
    (s,) = pulls_of(report(registry), image, "docker/")
    assert kinds(s) == ["ping", "manifest-head", "manifest"] and s.summary.errors == errors
    assert [f.rule for f in s.findings] == ["manifest.unknown"]


def test_skopeo_copy_seen_by_nginx_and_the_cdn(lab, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    tail = Tail("nginx-access.log", "cdn-access.log")
    image = f"{lab.host('hub')}/{IMAGE}:latest"
    subprocess.run(["skopeo", "copy", f"docker://{image}", f"dir:{tmp_path / 'img'}"], check=True,
                   capture_output=True, timeout=300)
    nginx, cdn = tail.copy(tmp_path)
    (s,) = pulls_of(report(nginx, cdn), image, "skopeo/")
    # skopeo GETs the manifest by tag (no HEAD); its blob downloads overlap, so only their
    # number and links are fixed.
    assert kinds(s)[:3] == ["ping", "token", "manifest"]
    assert sorted(kinds(s)[3:]) == ["blob-redirect"] * 4 + ["cdn-download"] * 4
    assert_downloads_follow_redirects(s)
    assert s.steps[2].reference == "latest" and s.findings == []


def test_ctr_pull_seen_by_its_own_debug_log_and_by_the_registry(lab, daemon, tmp_path):
    daemon.forget_images()  # containerd skips content it holds, in any namespace
    tail = Tail("registry-hub.log", "cdn-access.log")
    image = f"{lab.host('hub')}/{IMAGE}:latest"
    proc = subprocess.run(["ctr", "--debug", "--address", str(daemon.containerd_address), "-n", "logs-pull",
                           "images", "pull", image], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-500:]
    client_log = tmp_path / "ctr-debug.log"
    client_log.write_text(proc.stderr)
    registry, cdn = tail.copy(tmp_path)

    # containerd starts with HEAD (no ping); each first try is answered 401 with a challenge the
    # client log records; its redirect hops happen inside Go's client, so blobs are one step.
    (s,) = pulls_of(report(client_log), image, "containerd/")
    assert kinds(s) == ["manifest-head", "manifest-head", "manifest", "manifest"] + ["layer-blob"] * 4
    assert [st.exchange.status for st in s.steps] == [401, 200, 401, 200, 200, 200, 200, 200]
    assert s.steps[0].facts.challenge["realm"] == lab.url("auth") + "/token"
    assert {st.reference for st in s.steps[4:]} == _digests(lab)
    assert s.findings == []

    # The registry sees the same requests and the redirects the client followed silently.
    (s,) = pulls_of(report(registry, cdn), image, "containerd/")
    assert kinds(s)[:4] == ["manifest-head", "manifest-head", "manifest", "manifest"]
    assert [st.exchange.status for st in s.steps[:4]] == [401, 200, 401, 200]
    assert sorted(kinds(s)[4:]) == ["blob-redirect"] * 4 + ["cdn-download"] * 4
    assert_downloads_follow_redirects(s)
