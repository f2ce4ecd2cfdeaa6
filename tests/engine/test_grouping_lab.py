"""Pulls grouped by protocol causality, with real clients against the lab's real registries
(issue 10's patterns): skopeo run again and again and twice at once, a tag then a digest of one
repository, curl playing a go-containerregistry client whose ping and token carry another
User-Agent than its pull, docker pulling the same image twice, and a docker login whose refresh token
the next pull presents."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pulltrace.model import StepKind
from pulltrace.sessions import AUTH_ANONYMOUS

pytestmark = pytest.mark.lab


def _skopeo(capture, lab, tmp_path: Path, ref: str, n: int) -> subprocess.Popen[bytes]:
    certs = capture.certs_dir(tmp_path / "certs")
    return subprocess.Popen(["skopeo", "copy", "--src-cert-dir", str(certs), f"docker://{ref}",
                             f"docker-archive:{tmp_path / f'copy{n}.tar'}"], env=capture.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()


def _kinds(session) -> list[StepKind]:
    return [s.kind for s in session.steps]


@pytest.fixture
def skopeo():
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")


def test_skopeo_copying_one_image_again_and_again_is_one_pull_each_time(lab, capture, skopeo, tmp_path):
    ref = f"{lab.host('hub')}/library/three:latest"
    for n in range(4):
        _wait(_skopeo(capture, lab, tmp_path, ref, n))
    trace = capture.trace()
    assert [s.summary.image for s in trace.sessions] == [f"{lab.host('hub')}/library/three:latest"] * 4
    for session in trace.sessions:
        assert _kinds(session)[:3] == [StepKind.PING, StepKind.TOKEN, StepKind.MANIFEST]
        assert session.summary.layers_fetched == 3 and session.findings == []


def test_two_skopeo_copies_of_one_image_at_once_each_have_their_ping_token_and_blobs(lab, capture, skopeo, tmp_path):
    ref = f"{lab.host('hub')}/library/three:latest"
    _wait(_skopeo(capture, lab, tmp_path, ref, 1), _skopeo(capture, lab, tmp_path, ref, 2))
    trace = capture.trace()
    assert len(trace.sessions) == 2
    for session in trace.sessions:
        kinds = _kinds(session)
        assert (kinds.count(StepKind.PING), kinds.count(StepKind.TOKEN), kinds.count(StepKind.MANIFEST)) == (1, 1, 1)
        assert kinds.count(StepKind.CDN_DOWNLOAD) == 4 and session.summary.layers_fetched == 3
        assert session.findings == []


def test_a_tag_then_a_digest_of_one_repository_are_two_pulls(lab, capture, skopeo, tmp_path):
    repo = f"{lab.host('hub')}/library/tiny"
    digest = lab.images["library/tiny"].digest
    _wait(_skopeo(capture, lab, tmp_path, f"{repo}:latest", 1))
    _wait(_skopeo(capture, lab, tmp_path, f"{repo}@{digest}", 2))
    trace = capture.trace()
    assert [s.summary.image for s in trace.sessions] == [f"{repo}:latest", f"{repo}@{digest}"]
    assert [s.summary.manifest_digest for s in trace.sessions] == [digest, digest]


def _curl(capture, *args: str, agent: str) -> str:
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "--cacert", str(capture.ca_cert),
                          "-A", agent, *args], env=capture.env(), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def test_a_client_whose_ping_and_token_carry_another_user_agent_is_one_pull(lab, capture):
    # Older go-containerregistry (crane) pings and fetches its token through a transport that
    # sends Go's default User-Agent, then pulls with its own: here curl speaks each request.
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    import json

    hub, auth = lab.host("hub"), lab.host("auth")
    go = "Go-http-client/1.1"
    crane = "crane/0.8.0 go-containerregistry/v0.8.0"
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "--cacert", str(capture.ca_cert), "-A", go,
                    f"https://{hub}/v2/"], env=capture.env(), check=True, timeout=60)  # 401 with the challenge
    token = json.loads(_curl(capture, f"https://{auth}/token?scope=repository:library/tiny:pull&service={hub}",
                             agent=go))["token"]
    bearer = ["-H", f"Authorization: Bearer {token}"]
    manifest = json.loads(_curl(capture, *bearer, "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
                                f"https://{hub}/v2/library/tiny/manifests/latest", agent=crane))
    for blob in [manifest["config"], *manifest["layers"]]:
        _curl(capture, *bearer, "-L", "-o", "/dev/null", f"https://{hub}/v2/library/tiny/blobs/{blob['digest']}",
              agent=crane)
    (session,) = capture.trace().sessions
    assert _kinds(session)[:3] == [StepKind.PING, StepKind.TOKEN, StepKind.MANIFEST]
    assert session.summary.auth == AUTH_ANONYMOUS and session.summary.layers_fetched == 1
    # Only what curl's single Accept header earns; no "only the start went through the proxy".
    assert [f.rule for f in session.findings] == ["manifest.accept-mismatch"]


@pytest.fixture
def dockerd(lab, capture):
    d = lab.docker("engine-grouping", proxy=capture.url)
    d.forget_images()
    return d


def test_docker_pulling_the_same_image_twice_is_two_pulls(lab, capture, dockerd):
    ref = f"{lab.host('hub')}/library/tiny"
    dockerd.docker("pull", ref)
    dockerd.docker("pull", ref)  # already present: docker asks for the manifest only
    first, second = capture.trace().sessions
    assert first.summary.image == second.summary.image == f"{ref}:latest"
    assert first.summary.layers_fetched == 1
    assert StepKind.MANIFEST_HEAD in _kinds(second) and second.summary.layers_fetched == 0
    assert second.findings == []


def test_a_failed_docker_login_then_an_anonymous_pull_keeps_its_tag(lab, capture, dockerd):
    hub = lab.host("hub")
    login = dockerd.docker("login", hub, "-u", "alice", "--password-stdin", input="wrong-password\n", check=False)
    assert login.returncode != 0
    dockerd.docker("logout", hub, check=False)
    dockerd.docker("pull", f"{hub}/library/tiny")
    trace = capture.trace()
    logins = [s for s in trace.sessions if s.action == "login"]
    (pull,) = [s for s in trace.sessions if s.action == "pull"]
    assert logins and all(s.summary.image == "" for s in logins)
    assert pull.summary.image == f"{hub}/library/tiny:latest"
    assert pull.summary.auth == AUTH_ANONYMOUS and pull.summary.layers_fetched == 1
    assert not any(step.kind is StepKind.LOGIN for step in pull.steps)


def test_a_docker_login_then_a_pull_with_its_refresh_token_is_a_login_and_one_authenticated_pull(lab, capture,
                                                                                                    dockerd):
    # `docker login` keeps the refresh token the token service issued (an identity token); the pull
    # then POSTs grant_type=refresh_token for its scope, with no password: that token request and
    # everything after it are the pull's, and the pull is not anonymous.
    hub = lab.host("hub")
    dockerd.docker("login", hub, "-u", "admin", "--password-stdin", input="admin-pass\n")
    dockerd.docker("rmi", "-f", f"{hub}/private/secret", check=False)
    dockerd.docker("pull", f"{hub}/private/secret")
    dockerd.docker("logout", hub, check=False)
    trace = capture.trace()
    (login,) = [s for s in trace.sessions if s.action == "login"]
    (pull,) = [s for s in trace.sessions if s.action == "pull"]
    assert pull.summary.image == f"{hub}/private/secret:latest"
    tokens = [s for s in pull.steps if s.kind is StepKind.TOKEN]
    assert [t.facts.credential_kind for t in tokens] == ["refresh_token"]
    assert tokens[0].exchange.method == "POST"
    assert pull.summary.auth == "bearer-credentials" and pull.summary.layers_fetched >= 1
    assert [s.facts.credential_kind for s in login.steps if s.kind is StepKind.LOGIN] == ["basic"]
    assert not any(s.kind is StepKind.LOGIN for s in pull.steps)
    assert pull.findings == [] and login.findings == []
