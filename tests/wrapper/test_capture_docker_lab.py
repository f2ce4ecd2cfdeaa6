"""`pulltrace capture -- docker pull`: the pull happens in a throwaway dockerd started with the proxy.

The "user's daemon" here is a lab dockerd of these tests' own (`wrapper-user`): it must see no
pull, and gets the image only when `--load` asks for it.
"""

from __future__ import annotations

import glob
import tempfile

import pytest
from wrapperhelpers import kinds, pull_of, pulltrace, trace_in

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def user_daemon(lab):
    return lab.docker("wrapper-user")


def _throwaway_dirs() -> set[str]:
    return set(glob.glob(f"{tempfile.gettempdir()}/pulltrace-dockerd-*"))


def _has_image(daemon, ref: str) -> bool:
    return daemon.docker("image", "inspect", ref, check=False).returncode == 0


def test_docker_pull_goes_through_a_throwaway_daemon_and_leaves_the_users_alone(lab, env, tmp_path, user_daemon):
    user_daemon.forget_images()
    ref = f"{lab.host('hub')}/library/tiny-plus:latest"
    before = _throwaway_dirs()
    user_env = dict(env, DOCKER_HOST=user_daemon.host)
    proc = pulltrace(["capture", "-o", str(tmp_path / "out"), "--outputs", "console,json", "--",
                      "docker", "pull", ref], user_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"Status: Downloaded newer image for {ref}" in proc.stdout
    session = pull_of(trace_in(tmp_path / "out"), "library/tiny-plus")
    assert session.client.startswith("docker/")
    assert {"ping", "token", "manifest-head", "manifest", "blob-redirect", "cdn-download"} <= kinds(session.steps)
    image = lab.images["library/tiny-plus"]
    downloads = [s for s in session.steps if s.kind.value == "cdn-download"]
    assert {s.exchange.body_sha256 for s in downloads} == {image.config_digest, *(x.digest for x in image.layers)}
    assert not _has_image(user_daemon, ref)  # the user's daemon pulled nothing
    assert (f"pulltrace: {ref} went to a throwaway daemon, now removed; add --load to load it into your docker "
            "daemon") in proc.stderr
    assert _throwaway_dirs() == before  # its data root and sockets are gone


def test_load_hands_the_image_to_the_users_daemon(lab, env, tmp_path, user_daemon):
    user_daemon.forget_images()
    ref = f"{lab.host('hub')}/library/tiny:latest"
    user_env = dict(env, DOCKER_HOST=user_daemon.host)
    proc = pulltrace(["capture", "-o", str(tmp_path / "out"), "--outputs", "json", "--load", "--",
                      "docker", "pull", ref], user_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"Loaded image: {ref}" in proc.stderr
    inspect = user_daemon.docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    assert inspect.stdout.strip() == lab.images["library/tiny"].config_digest  # the very image pulled
    user_daemon.forget_images()


def test_a_failing_docker_command_keeps_its_status(lab, env, tmp_path, user_daemon):
    user_env = dict(env, DOCKER_HOST=user_daemon.host)
    proc = pulltrace(["capture", "-o", str(tmp_path / "out"), "--outputs", "json", "--",
                      "docker", "pull", f"{lab.host('hub')}/private/secret:latest"], user_env, tmp_path)
    assert proc.returncode == 1
    assert "denied" in proc.stderr or "unauthorized" in proc.stderr.lower()


def test_docker_without_dockerd_on_path_is_one_line(lab, env, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to("/usr/bin/docker")
    proc = pulltrace(["capture", "--", "docker", "pull", "x"], dict(env, PATH=str(bin_dir)), tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "pulltrace: dockerd not found on PATH: a docker command is captured through a throwaway dockerd; install "
        "docker (Debian: apt-get install docker.io), or use `pulltrace mirror`"]


def test_docker_pull_uses_the_users_login(lab, env, tmp_path, user_daemon):
    import subprocess

    config = tmp_path / "docker-config"
    user_env = dict(env, DOCKER_HOST=user_daemon.host, DOCKER_CONFIG=str(config))
    login = subprocess.run(["/usr/bin/docker", "login", "-u", "alice", "--password-stdin", lab.host("hub")],
                           input="alice-pass\n", env=user_env, capture_output=True, text=True, timeout=120)
    assert login.returncode == 0, login.stderr
    ref = f"{lab.host('hub')}/team/app:latest"
    proc = pulltrace(["capture", "-o", str(tmp_path / "out"), "--outputs", "json", "--", "docker", "pull", ref],
                     user_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    session = pull_of(trace_in(tmp_path / "out"), "team/app")
    tokens = [s for s in session.steps if s.kind.value == "token"]
    assert tokens and {s.exchange.token_claims["sub"] for s in tokens} == {"alice"}
    assert session.summary.scopes_granted == ["repository:team/app:pull"]
    assert not _has_image(user_daemon, ref)
