"""Real clients pulling from the lab through `mitmdump -s addons/pulltrace.py`.

dockerd (proxied through mitmdump via the lab's docker API), skopeo, ctr and podman with
HTTPS_PROXY; the addon's trace JSON is read back and its classification checked.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest
from capturehelpers import assert_downloads_follow_redirects, by_kind, kinds, proxy_env, pulls

pytestmark = pytest.mark.lab

HEAD_START = ["ping", "token", "manifest-head"]


def _only_pull(trace):
    (session,) = pulls(trace)
    return session


def _roles(session, kind: str) -> list[str]:
    return sorted(s.role for s in by_kind(session, kind))


def test_docker_pull_tiny(lab, mitm, daemon):
    daemon.docker("pull", f"{lab.host('hub')}/library/tiny")
    trace = mitm.trace()
    s = _only_pull(trace)
    assert kinds(s) == HEAD_START + ["manifest"] + ["blob-redirect"] * 2 + ["cdn-download"] * 2
    ping, token, head, manifest = s.steps[:4]
    assert token.linked("answers") == [ping.id] and token.linked("retried-by") == [head.id]
    assert head.facts.digest == lab.images["library/tiny"].digest
    assert manifest.reference == lab.images["library/tiny"].digest
    assert _roles(s, "blob-redirect") == _roles(s, "cdn-download") == ["config", "layer 1/1"]
    assert all(r.linked("blob-of") == [manifest.id] for r in by_kind(s, "blob-redirect"))
    assert_downloads_follow_redirects(s)
    summary = s.summary
    assert summary.image == f"{lab.host('hub')}/library/tiny:latest"
    assert summary.auth == "anonymous-bearer"
    assert summary.scopes_granted == ["repository:library/tiny:pull"]
    assert (summary.layers, summary.layers_fetched, summary.skipped_blobs) == (1, 1, [])
    info = lab.images["library/tiny"]
    assert summary.bytes == info.config_size + sum(layer.size for layer in info.layers)
    # The pull's table was printed on the mitmdump console as it ended.
    assert f"Session 1: {lab.host('hub')}/library/tiny:latest" in mitm.console()
    # Masked in what was written: no bearer token survives.
    text = (mitm.out / "pulltrace.json").read_text()
    assert "Bearer eyJhbGci…" in text and not any(
        len(v) > 40 and v.startswith("eyJ") for v in text.replace('"', " ").split())


@pytest.mark.parametrize("image", ["library/multi", "library/multi-oci"])
def test_docker_pull_index_chooses_linux_amd64(lab, mitm, daemon, image):
    daemon.docker("pull", f"{lab.host('hub')}/{image}")
    s = _only_pull(mitm.trace())
    assert kinds(s) == HEAD_START + ["manifest-index", "manifest"] + ["blob-redirect"] * 2 + ["cdn-download"] * 2
    index, manifest = s.steps[3], s.steps[4]
    info = lab.images[image]
    assert index.reference == info.digest
    assert manifest.reference == info.platforms["linux/amd64"].digest
    assert manifest.linked("chosen-from") == [index.id]
    assert [(link.target, link.note) for link in index.links if link.rel == "chooses"] == [(manifest.id, "linux/amd64")]
    assert s.summary.platform == "linux/amd64"
    assert_downloads_follow_redirects(s)


def test_docker_pull_three_layers(lab, mitm, daemon):
    daemon.docker("pull", f"{lab.host('hub')}/library/three")
    s = _only_pull(mitm.trace())
    assert kinds(s)[:4] == HEAD_START + ["manifest"]
    assert _roles(s, "cdn-download") == ["config", "layer 1/3", "layer 2/3", "layer 3/3"]
    assert_downloads_follow_redirects(s)
    assert (s.summary.layers, s.summary.layers_fetched) == (3, 3)


def test_docker_login_and_pull_with_basic_auth(lab, mitm, daemon):
    host = lab.host("basic")
    daemon.docker("logout", host, check=False)
    try:
        daemon.docker("login", "-u", "alice", "--password-stdin", host, input="alice-pass\n")
        daemon.docker("pull", f"{host}/team/app")
    finally:
        daemon.docker("logout", host, check=False)
    trace = mitm.trace()
    login, pull = trace.sessions
    assert (login.action, kinds(login)) == ("login", ["ping", "login"])
    assert login.steps[1].exchange.request_header("authorization") == "Basic YWxp…"
    assert (pull.action, pull.summary.image, pull.summary.auth) == ("pull", f"{host}/team/app:latest", "basic")
    # dockerd fetches config and layer in parallel: either may come first.
    assert kinds(pull)[:3] == ["ping", "manifest-head", "manifest"]
    assert sorted(kinds(pull)[3:]) == ["config-blob", "layer-blob"]
    manifest = pull.steps[2]
    assert pull.steps[3].linked("blob-of") == pull.steps[4].linked("blob-of") == [manifest.id]
    assert "alice-pass" not in (mitm.out / "pulltrace.json").read_text()


def _warm_mirror(lab, repository: str) -> None:
    """Fetch an image through the mirror once, so its blobs are in the mirror's cache.

    A pull-through cache streams a blob it does not have yet (200, fetched upstream while
    the client waits) and redirects to its storage for one it has (307): this test is
    about the second, which is what every pull after the first sees.
    """
    image = lab.images[repository]
    base = f"{lab.url('mirror')}/v2/{repository}"
    with lab.client() as http:
        accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
        http.get(f"{base}/manifests/{image.digest}", headers=accept).raise_for_status()
        for digest in [image.config_digest] + [layer.digest for layer in image.layers]:
            assert http.get(f"{base}/blobs/{digest}").status_code in (200, 307)


def test_docker_pull_through_registry_mirror(lab, mitm, daemon):
    _warm_mirror(lab, "library/tiny")
    # `tiny` is a Docker Hub name: dockerd asks its registry-mirrors (the lab mirror) first.
    daemon.docker("pull", "tiny")
    s = _only_pull(mitm.trace())
    assert s.summary.registry == lab.host("mirror")
    assert s.summary.auth == "none"
    assert kinds(s) == ["ping", "manifest-head", "manifest"] + ["blob-redirect"] * 2 + ["cdn-download"] * 2
    assert s.steps[0].exchange.status == 200
    assert_downloads_follow_redirects(s)
    assert {step.exchange.url.split("/")[2] for step in by_kind(s, "cdn-download")} == {lab.host("mirror-cdn")}


def test_second_pull_skips_the_shared_layer(lab, mitm, daemon):
    hub = lab.host("hub")
    daemon.docker("pull", f"{hub}/library/tiny")
    daemon.docker("pull", f"{hub}/library/tiny-plus")
    first, second = pulls(mitm.trace())
    assert first.summary.image.endswith("/library/tiny:latest")
    assert second.summary.image.endswith("/library/tiny-plus:latest")
    shared = lab.images["library/tiny"].layers[0].digest
    assert second.summary.skipped_blobs == [shared]
    assert _roles(second, "cdn-download") == ["config", "layer 2/2"]
    assert (second.summary.layers, second.summary.layers_fetched) == (2, 1)


def test_skopeo_copy(lab, mitm, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(mitm.ca_cert, certs / "mitmproxy.crt")  # skopeo verifies TLS: trust mitmproxy's CA
    subprocess.run(["skopeo", "copy", "--src-cert-dir", str(certs), f"docker://{lab.host('hub')}/library/three",
                    f"docker-archive:{tmp_path / 'three.tar'}"], env=proxy_env(mitm), check=True,
                   capture_output=True, timeout=300)
    s = _only_pull(mitm.trace())
    assert s.client.startswith("skopeo/")
    # skopeo asks for the manifest by tag with GET (no HEAD), then one blob at a time.
    assert kinds(s) == ["ping", "token", "manifest"] + ["blob-redirect", "cdn-download"] * 4
    assert _roles(s, "cdn-download") == ["config", "layer 1/3", "layer 2/3", "layer 3/3"]
    assert_downloads_follow_redirects(s)


@pytest.mark.parametrize(("image", "got_by_digest"), [
    ("library/tiny", ["manifest"]),
    ("library/multi-oci", ["manifest-index", "manifest"]),
])
def test_ctr_pull_through_dockerds_containerd(lab, mitm, daemon, tmp_path, image, got_by_digest):
    d = daemon  # emptied, ctr's namespaces included: containerd skips content it holds
    ref = f"{lab.host('hub')}/{image}:latest"
    namespace = "pulltrace-capture"
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(mitm.ca_cert.read_bytes())  # ctr verifies TLS: trust mitmproxy's CA
    d.ctr("-n", namespace, "images", "pull", ref, env=proxy_env(mitm, SSL_CERT_FILE=str(bundle)))
    s = _only_pull(mitm.trace())
    assert s.client.startswith("containerd/")
    # containerd starts with HEAD (no ping), and its fetcher asks for a second token. Its first
    # GET by digest is answered 401 with no body: what it is comes from the HEAD by tag.
    what = got_by_digest[0]
    start = ["manifest-head", "token", "manifest-head", what, "token"] + got_by_digest
    assert kinds(s)[: len(start)] == start
    head, unauthorized = s.steps[2], s.steps[3]
    assert unauthorized.exchange.status == 401 and unauthorized.facts.media_type_from == head.id
    assert unauthorized.reference == head.facts.digest == lab.images[image].digest
    first_token, second_token = by_kind(s, "token")
    assert first_token.linked("answers") == [s.steps[0].id] and first_token.linked("retried-by") == [s.steps[2].id]
    assert second_token.linked("answers") == [s.steps[3].id] and second_token.linked("retried-by") == [s.steps[5].id]
    assert _roles(s, "cdn-download") == ["config", "layer 1/1"]
    assert_downloads_follow_redirects(s)



@pytest.mark.parametrize(("image", "manifests"), [
    ("library/tiny", ["manifest"]),
    ("library/multi-oci", ["manifest-index", "manifest"]),
])
def test_podman_pull(lab, mitm, tmp_path, image, manifests):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (scripts/bootstrap installs it: apt-get install podman)")
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(mitm.ca_cert, certs / "mitmproxy.crt")  # podman verifies TLS: trust mitmproxy's CA
    # Its own storage, so every blob is fetched; vfs, file events and cgroupfs: what runs here.
    # podman refuses a runroot path longer than 50 characters, which pytest's tmp_path is.
    with tempfile.TemporaryDirectory(prefix="pulltrace-podman-") as short:
        storage = ["--root", f"{short}/root", "--runroot", f"{short}/run", "--storage-driver", "vfs",
                   "--events-backend", "file", "--cgroup-manager", "cgroupfs"]
        proc = subprocess.run(["podman", *storage, "pull", "--cert-dir", str(certs),
                               f"{lab.host('hub')}/{image}:latest"],
                              env=proxy_env(mitm), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    s = _only_pull(mitm.trace())
    assert s.client.startswith("containers/")  # podman's User-Agent is its image library's
    # podman, like skopeo, GETs the manifest by tag (no HEAD); an index, then the platform's by digest.
    assert kinds(s)[: 2 + len(manifests)] == ["ping", "token"] + manifests
    assert sorted(kinds(s)[2 + len(manifests):]) == ["blob-redirect"] * 2 + ["cdn-download"] * 2
    assert s.steps[2].facts.by == "tag" and s.steps[-1].exchange.method == "GET"
    if len(manifests) == 2:
        assert s.steps[3].linked("chosen-from") == [s.steps[2].id] and s.summary.platform == "linux/amd64"
    assert _roles(s, "cdn-download") == ["config", "layer 1/1"]
    assert_downloads_follow_redirects(s)
