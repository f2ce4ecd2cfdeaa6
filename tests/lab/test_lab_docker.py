"""The lab dockerd: docker login and pull against the lab's registries, ctr on its containerd."""

from __future__ import annotations

import json
import shutil

import pytest
from labhelpers import TunnelProxy

pytestmark = pytest.mark.lab


def test_docker_login_and_pull_on_basic_registry(lab):
    d = lab.docker()
    host = lab.host("basic")
    d.docker("logout", host, check=False)
    d.docker("rmi", "-f", f"{host}/team/app", check=False)
    denied = d.docker("pull", f"{host}/team/app", check=False)
    assert denied.returncode != 0
    bad = d.docker("login", "-u", "alice", "--password-stdin", host, input="wrong\n", check=False)
    assert bad.returncode != 0
    d.docker("login", "-u", "alice", "--password-stdin", host, input="alice-pass\n")
    d.docker("pull", f"{host}/team/app")
    image_id = d.docker("image", "inspect", "--format", "{{.Id}}", f"{host}/team/app").stdout.strip()
    assert image_id == lab.images["team/app"].config_digest
    d.docker("logout", host)


def test_docker_login_to_token_registry_stores_identity_token(lab):
    d = lab.docker()
    host = lab.host("hub")
    d.docker("login", "-u", "admin", "--password-stdin", host, input="admin-pass\n")
    config = json.loads((d.cli_config / "config.json").read_text())
    assert config["auths"][host].get("identitytoken")
    d.docker("rmi", "-f", f"{host}/private/secret", check=False)
    d.docker("pull", f"{host}/private/secret")
    d.docker("logout", host)


def test_docker_pulls_a_multi_arch_image_for_its_platform(lab):
    d = lab.docker()
    ref = f"{lab.host('hub')}/library/multi"
    d.docker("rmi", "-f", ref, check=False)
    d.docker("pull", ref)
    image_id = d.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
    assert image_id == lab.images["library/multi"].platforms["linux/amd64"].config_digest


def test_ctr_pulls_through_dockerds_containerd(lab):
    d = lab.docker()
    ref = f"{lab.host('hub')}/library/multi-oci:latest"
    d.ctr("images", "rm", ref, check=False)
    d.ctr("images", "pull", ref)
    listed = d.ctr("images", "ls", "-q").stdout.split()
    assert ref in listed


def test_docker_pulls_the_large_image(lab):
    """Only when the lab was brought up with `--large`: two ≥ 150 MB layers through the CDN."""
    if "library/large" not in lab.images:
        pytest.skip("the lab was brought up without --large")
    d = lab.docker()
    ref = f"{lab.host('hub')}/library/large"
    d.docker("rmi", "-f", ref, check=False)
    d.docker("pull", ref)
    image_id = d.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
    assert image_id == lab.images["library/large"].config_digest
    d.docker("rmi", "-f", ref)


def test_docker_daemon_with_a_proxy_sends_registry_traffic_through_it(lab):
    proxy = TunnelProxy()
    d = None
    try:
        d = lab.docker("proxytest", proxy=proxy.url)
        assert d.proxy == proxy.url
        ref = f"{lab.host('hub')}/library/three"
        d.docker("pull", ref)
        assert f"{lab.endpoints['hub'].host}:{lab.settings.ports.tls}" in proxy.targets
        assert f"{lab.endpoints['cdn'].host}:{lab.settings.ports.tls}" in proxy.targets
    finally:
        if d is not None:
            d.stop()
            shutil.rmtree(d.root, ignore_errors=True)
        proxy.close()
