"""The outputs are what real tools accept: `docker load` into the lab dockerd gives the image
ID `docker pull` gives; skopeo reads the OCI layouts. Credentials from a real `docker login`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from clienthelpers import archive_digests, steps

from pulltrace.commands.main import main
from pulltrace.model import StepKind, load_trace

pytestmark = pytest.mark.lab

SKOPEO = "/usr/bin/skopeo"


def skopeo(*args: str) -> str:
    if not shutil.which(SKOPEO):
        pytest.skip("skopeo is not installed")
    proc = subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def image_id(d, ref: str) -> str:
    return d.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


@pytest.mark.parametrize("endpoint,repo", [("hub", "library/three"), ("gcr", "library/tiny"),
                                           ("hub", "library/multi"), ("harbor", "library/busybox")])
def test_docker_load_gives_the_image_id_of_docker_pull(lab, tmp_path, endpoint, repo):
    d = lab.docker()
    ref = f"{lab.host(endpoint)}/{repo}:latest"
    out = tmp_path / "image.tar"
    assert main(["pull", ref, "-q", "-o", str(out), "--cache", str(tmp_path / "cache")]) == 0

    d.docker("rmi", "-f", ref, check=False)
    loaded = d.docker("load", "-i", str(out)).stdout
    assert f"Loaded image: {ref}" in loaded
    loaded_id = image_id(d, ref)

    d.docker("rmi", "-f", ref)
    d.docker("pull", ref)
    pulled_id = image_id(d, ref)
    assert loaded_id == pulled_id
    config, _ = archive_digests(out)
    assert loaded_id == config
    d.docker("rmi", "-f", ref, check=False)


def test_oci_layout_directory_and_archive_are_read_by_skopeo(lab, tmp_path):
    info = lab.images["library/three"]
    ref = f"{lab.host('hub')}/library/three"
    layout = tmp_path / "three-oci"
    assert main(["pull", ref, "-q", "--format", "oci", "-o", str(layout), "--cache", str(tmp_path / "c")]) == 0
    inspected = json.loads(skopeo("inspect", f"oci:{layout}:latest"))
    # A Docker manifest is stored converted to OCI: same layers, new manifest digest.
    [desc] = json.loads((layout / "index.json").read_text())["manifests"]
    assert inspected["Digest"] == desc["digest"] != info.digest
    assert inspected["Layers"] == [layer.digest for layer in info.layers]
    copied = tmp_path / "from-oci.tar"
    skopeo("copy", f"oci:{layout}:latest", f"docker-archive:{copied}:{ref}:latest")
    d = lab.docker()
    d.docker("rmi", "-f", f"{ref}:latest", check=False)
    d.docker("load", "-i", str(copied))
    assert image_id(d, f"{ref}:latest") == info.config_digest
    d.docker("rmi", "-f", f"{ref}:latest", check=False)

    archive = tmp_path / "three-oci.tar"
    assert main(["pull", ref, "-q", "--format", "oci-archive", "-o", str(archive),
                 "--cache", str(tmp_path / "c")]) == 0
    assert json.loads(skopeo("inspect", f"oci-archive:{archive}:latest"))["Digest"] == desc["digest"]

    # An OCI image keeps its manifest, digest and all.
    oci_info = lab.images["library/multi-oci"].platforms["linux/amd64"]
    native = tmp_path / "multi-oci"
    assert main(["pull", f"{lab.host('hub')}/library/multi-oci", "-q", "--platform", "linux/amd64",
                 "--format", "oci", "-o", str(native), "--cache", str(tmp_path / "c")]) == 0
    assert json.loads(skopeo("inspect", f"oci:{native}:latest"))["Digest"] == oci_info.digest


def test_identity_token_from_docker_login_is_used_as_a_refresh_token(lab, tmp_path):
    d = lab.docker()
    host = lab.host("hub")
    d.docker("login", "-u", "admin", "--password-stdin", host, input="admin-pass\n")
    try:
        config = json.loads((d.cli_config / "config.json").read_text())
    finally:
        d.docker("logout", host, check=False)
    assert config["auths"][host].get("identitytoken")
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"auths": {host: config["auths"][host]}}))

    trace_path = tmp_path / "t.json"
    import os

    old = os.environ.get("DOCKER_CONFIG")
    os.environ["DOCKER_CONFIG"] = str(docker_config)
    try:
        code = main(["pull", f"{host}/private/secret", "-q", "-o", str(tmp_path / "s.tar"),
                     "--cache", str(tmp_path / "c"), "--save-trace", str(trace_path)])
    finally:
        if old is None:
            os.environ.pop("DOCKER_CONFIG", None)
        else:
            os.environ["DOCKER_CONFIG"] = old
    assert code == 0
    config_digest, _ = archive_digests(tmp_path / "s.tar")
    assert config_digest == lab.images["private/secret"].config_digest
    tokens = [s for s in steps(load_trace(trace_path)) if s.kind in (StepKind.TOKEN, StepKind.LOGIN)]
    assert tokens and tokens[0].exchange.method == "POST"
    assert "grant_type=refresh_token" in (tokens[0].exchange.request_body_preview or "")
    assert config["auths"][host]["identitytoken"] not in trace_path.read_text()  # masked
