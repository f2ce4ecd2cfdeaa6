"""Two more of issue 10's patterns with real clients: two tags of one repository pulled back to
back are two pulls, each with its own tag and digest (they used to merge into one pull carrying
the second one's digest), and a bearer token the client fetched before the capture began is
named as such, not read as "no auth"."""

from __future__ import annotations

import dataclasses
import json
import shutil
import ssl
import subprocess

import httpx
import pytest
from test_grouping_lab import _kinds, _skopeo, _wait

from pulltrace.lab import images, push
from pulltrace.model import StepKind
from pulltrace.sessions import AUTH_EARLIER_TOKEN

pytestmark = pytest.mark.lab

REPOSITORY = "library/tagged"  # anonymous pull is open under library/


@pytest.fixture(scope="module")
def two_tags(lab) -> dict[str, str]:
    """`library/tagged:one` and `:two` on hub: two different images in one repository; tag → digest."""
    built = {
        tag: dataclasses.replace(images._single(REPOSITORY, [images.text_files(f"tagged-{tag}", 3)]), tag=tag)
        for tag in ("one", "two")
    }
    access = [{"type": "repository", "name": REPOSITORY, "actions": ["pull", "push"]}]
    token = lab.signer().access_token("admin", lab.host("hub"), access, 600)[0]
    push.push_all(f"http://127.0.0.1:{lab.settings.ports.hub}", tuple(built.values()), lambda _: token)
    return {tag: image.manifest.digest for tag, image in built.items()}


@pytest.fixture
def skopeo():
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")


def test_two_tags_of_one_repository_back_to_back_are_two_pulls(lab, capture, skopeo, two_tags, tmp_path):
    repo = f"{lab.host('hub')}/{REPOSITORY}"
    _wait(_skopeo(capture, lab, tmp_path, f"{repo}:one", 1))
    _wait(_skopeo(capture, lab, tmp_path, f"{repo}:two", 2))
    trace = capture.trace()
    assert [s.summary.image for s in trace.sessions] == [f"{repo}:one", f"{repo}:two"]
    assert [s.summary.manifest_digest for s in trace.sessions] == [two_tags["one"], two_tags["two"]]
    for session in trace.sessions:
        assert _kinds(session)[:3] == [StepKind.PING, StepKind.TOKEN, StepKind.MANIFEST]
        assert session.summary.layers_fetched == 1 and session.findings == []


def test_a_token_fetched_before_the_capture_is_named_so(lab, capture):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    hub, auth = lab.host("hub"), lab.host("auth")
    # The token dance happened before the proxy was in the path (a credential helper, a
    # client that had run earlier): straight to the token service, not through mitmproxy.
    with httpx.Client(verify=ssl.create_default_context(cafile=str(lab.ca_path)), trust_env=False) as direct:
        token = direct.get(f"https://{auth}/token",
                           params={"service": hub, "scope": "repository:library/tiny:pull"}).json()["token"]

    def through_proxy(*args: str) -> str:
        out = subprocess.run(["curl", "-sS", "--fail-with-body", "--cacert", str(capture.ca_cert),
                              "-H", f"Authorization: Bearer {token}", *args], env=capture.env(),
                             capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode()

    manifest = json.loads(through_proxy("-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
                                        f"https://{hub}/v2/library/tiny/manifests/latest"))
    for blob in [manifest["config"], *manifest["layers"]]:
        through_proxy("-L", "-o", "/dev/null", f"https://{hub}/v2/library/tiny/blobs/{blob['digest']}")
    (session,) = capture.trace().sessions
    assert session.summary.image == f"{hub}/library/tiny:latest"
    assert session.summary.auth == AUTH_EARLIER_TOKEN
    assert StepKind.TOKEN not in _kinds(session) and session.summary.layers_fetched == 1
    # Nothing about auth: the token was valid; curl's one Accept header is all there is to say.
    assert [f.rule for f in session.findings] == ["manifest.accept-mismatch"]
