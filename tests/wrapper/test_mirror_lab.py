"""`pulltrace mirror`: clients configured with the mirror are traced with no proxy and no CA.

The token realm and the CDN redirects come back through the mirror too, so the trace holds
every step — ping, token, manifests, redirects and CDN downloads — as if pulled directly.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest
from wrapperhelpers import kinds, pull_of, pulltrace, trace_in

pytestmark = pytest.mark.lab

PODMAN_FLAGS = ["--storage-driver", "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs"]


def _hosts_dir(tmp_path: Path, env, m, registry: str) -> Path:
    """The hosts.toml `--print-config containerd` prints, installed where `ctr --hosts-dir` reads it."""
    config = pulltrace(["mirror", registry, "--listen", m.listen, "--print-config", "containerd"], env, tmp_path)
    assert config.returncode == 0, config.stderr
    hosts = tmp_path / "hosts"
    (hosts / registry).mkdir(parents=True)
    (hosts / registry / "hosts.toml").write_text(config.stdout)
    return hosts


def _assert_every_step_went_through_the_mirror(session, image):
    assert {"manifest-head", "token", "manifest", "blob-redirect", "cdn-download"} <= kinds(session.steps)
    tokens = [s for s in session.steps if s.kind.value == "token"]
    assert {s.exchange.url.split("?")[0] for s in tokens} == {"https://auth.pulltrace.test/token"}
    downloads = [s for s in session.steps if s.kind.value == "cdn-download"]
    assert {s.exchange.url.split("/")[2] for s in downloads} == {"cdn.pulltrace.test"}
    assert {s.exchange.body_sha256 for s in downloads} == {image.config_digest, *(x.digest for x in image.layers)}
    assert all(s.exchange.request_header("Authorization") is None for s in downloads)


def test_ctr_pulls_through_the_mirror_with_hosts_dir(lab, env, tmp_path, containerd, mirror):
    containerd.forget()
    m = mirror(lab.host("hub"), "--outputs", "console,json")
    hosts = _hosts_dir(tmp_path, env, m, lab.host("hub"))
    pull = containerd.ctr("images", "pull", "--hosts-dir", str(hosts), f"{lab.host('hub')}/library/three:latest",
                          env=env, check=False)
    assert pull.returncode == 0, pull.stderr
    printed = m.stop()
    session = pull_of(trace_in(m.out), "library/three")
    _assert_every_step_went_through_the_mirror(session, lab.images["library/three"])
    assert session.summary.manifest_digest == lab.images["library/three"].digest
    assert "Session 1: hub.pulltrace.test/library/three:latest" in printed


def test_podman_pulls_through_a_registries_conf_mirror(lab, env, tmp_path, mirror):
    m = mirror(lab.host("hub"), "--outputs", "json")
    config = pulltrace(["mirror", lab.host("hub"), "--listen", m.listen, "--print-config", "podman"], env, tmp_path)
    (tmp_path / "registries.conf").write_text(config.stdout)
    short = Path(tempfile.mkdtemp(prefix="wrapper-podman-"))  # podman refuses a runroot over 50 characters
    try:
        pull = subprocess.run(
            ["podman", "--root", str(short / "root"), "--runroot", str(short / "run"), *PODMAN_FLAGS,
             "pull", f"{lab.host('hub')}/library/tiny-plus"],
            env=dict(env, CONTAINERS_REGISTRIES_CONF=str(tmp_path / "registries.conf")),
            capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert pull.returncode == 0, pull.stderr
    m.stop()
    session = pull_of(trace_in(m.out), "library/tiny-plus")
    image = lab.images["library/tiny-plus"]
    downloads = [s for s in session.steps if s.kind.value == "cdn-download"]
    assert {s.exchange.body_sha256 for s in downloads} == {image.config_digest, *(x.digest for x in image.layers)}
    assert "podman" in session.client.lower() or "containers" in session.client.lower(), session.client


def test_head_range_and_oauth2_post_tokens_pass_through_the_mirror(lab, tmp_path, mirror):
    m = mirror(lab.host("hub"), "--outputs", "json")
    agent = f"wrapper-mirror-test/{uuid.uuid4().hex[:8]}"
    image = lab.images["library/tiny"]
    layer = image.layers[0]
    with httpx.Client(base_url=m.url, headers={"User-Agent": agent}, timeout=30) as client:
        ping = client.get("/v2/")
        assert ping.status_code == 401
        realm = ping.headers["www-authenticate"].split('realm="')[1].split('"')[0]
        assert realm == f"{m.url}/_pulltrace/auth/https/auth.pulltrace.test/token"
        token = client.post(realm, data={"grant_type": "password", "username": "alice", "password": "alice-pass",
                                         "service": "hub.pulltrace.test", "scope": "repository:library/tiny:pull",
                                         "client_id": "wrapper-test"})
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        head = client.head("/v2/library/tiny/manifests/latest", headers={
            **bearer, "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        assert (head.status_code, head.headers["docker-content-digest"]) == (200, image.digest)
        redirect = client.get(f"/v2/library/tiny/blobs/{layer.digest}", headers=bearer)
        assert redirect.status_code == 307
        location = redirect.headers["location"]
        assert location.startswith(f"{m.url}/_pulltrace/blob/https/cdn.pulltrace.test/docker/registry/v2/blobs/")
        # The client keeps its token (the CDN is the mirror's origin to it); the mirror must drop it.
        part = client.get(location, headers={**bearer, "Range": "bytes=10-19"})
        assert (part.status_code, len(part.content)) == (206, 10)
        assert part.headers["content-range"] == f"bytes 10-19/{layer.size}"
        blob_head = client.head(location)
        assert (blob_head.status_code, int(blob_head.headers["content-length"])) == (200, layer.size)
        refused = client.get(f"{m.url}/_pulltrace/blob/https/example.com/")
        assert refused.status_code == 403
    m.stop()
    cdn_lines = [line for line in lab.log("cdn-access").read_text().splitlines() if agent in line]
    assert len(cdn_lines) == 2 and all("auth=absent" in line for line in cdn_lines), cdn_lines
    steps = [s for session in trace_in(m.out).sessions for s in session.steps]
    (post,) = [s for s in steps if s.exchange.method == "POST"]
    assert (post.kind.value, post.exchange.url, post.exchange.status) == (
        "token", "https://auth.pulltrace.test/token", 200)


def _push_large(lab, size: int):
    """A one-layer image of `size` random bytes at library/wrapper-large (pushed once, then reused)."""
    from pulltrace.lab.images import BuiltImage, Entry, image_config, image_manifest, layer
    from pulltrace.lab.push import push_image

    data = random.Random("wrapper-large").randbytes(size)
    blob = layer([Entry("wrapper/large.bin", data)], level=0)
    config = image_config([blob], note="library/wrapper-large")
    image = BuiltImage("library/wrapper-large", image_manifest(config, [blob]), (config, blob), config=config,
                       layers=(blob,))
    token = lab.token("admin", "repository:library/wrapper-large:pull,push")
    with httpx.Client(base_url=lab.url("hub"), verify=lab.ssl_context(), timeout=300,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        push_image(client, image)
    return image


def test_a_large_blob_streams_through_the_mirror_and_is_verified(lab, env, tmp_path, containerd, mirror):
    image = _push_large(lab, 48 * 1024 * 1024)
    containerd.forget()
    m = mirror(lab.host("hub"), "--outputs", "json")
    hosts = _hosts_dir(tmp_path, env, m, lab.host("hub"))
    pull = containerd.ctr("content", "fetch", "--hosts-dir", str(hosts),
                          f"{lab.host('hub')}/library/wrapper-large:latest", env=env, check=False)
    assert pull.returncode == 0, pull.stderr
    m.stop()
    session = pull_of(trace_in(m.out), "library/wrapper-large")
    (big,) = [s for s in session.steps if s.kind.value == "cdn-download" and s.exchange.body_sha256 ==
              image.layers[0].digest]
    assert big.exchange.response_bytes == image.layers[0].size > 48 * 1024 * 1024
    assert os.path.getsize(m.out / "pulltrace.json") < 1024 * 1024  # no blob body in the trace


def test_mirror_of_a_url_that_is_not_a_registry_is_one_line(lab, env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = pulltrace(["mirror", lab.url("cdn"), "--listen", f"127.0.0.1:{port}"], env, tmp_path, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "pulltrace: https://cdn.pulltrace.test is not a registry: GET /v2/ answered 404 without "
        "Docker-Distribution-API-Version or a Bearer/Basic challenge"]


def test_mirror_on_the_plain_registrys_port_names_it(lab, env, tmp_path):
    proc = pulltrace(["mirror", lab.host("hub"), "--listen", "127.0.0.1:5000"], env, tmp_path, timeout=120)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("pulltrace: --listen 127.0.0.1:5000: port 5000 is already in use by docker-registry")


def test_dockerd_pulls_docker_hub_names_through_the_mirror(lab, env, tmp_path, mirror):
    from pulltrace.capture.dockerd import ThrowawayDockerd, find_dockerd

    # dockerd sends Docker Hub names (`tiny` = docker.io/library/tiny) to its registry-mirrors;
    # the lab's hub stands in for Docker Hub behind the mirror.
    m = mirror(lab.host("hub"), "--outputs", "json")
    daemon = ThrowawayDockerd(find_dockerd())
    try:
        daemon.start(env, config={"registry-mirrors": [m.url]})
        pull = daemon.docker("/usr/bin/docker", "pull", "tiny", base=env)
    finally:
        daemon.stop()
    assert pull.returncode == 0, pull.stderr
    m.stop()
    session = pull_of(trace_in(m.out), "library/tiny")
    image = lab.images["library/tiny"]
    assert session.client.startswith("docker/")
    downloads = [s for s in session.steps if s.kind.value == "cdn-download"]
    assert {s.exchange.body_sha256 for s in downloads} == {image.config_digest, *(x.digest for x in image.layers)}
