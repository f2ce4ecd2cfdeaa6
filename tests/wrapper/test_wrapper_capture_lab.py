"""`pulltrace capture -- COMMAND` against the lab's real registries, with real clients.

Every run has a fresh HOME and no proxy or CA setting of its own: what makes the client go
through mitmproxy and trust it is only what `capture` sets for it.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from wrapperhelpers import all_steps, kinds, pull_of, pulltrace, trace_in

pytestmark = pytest.mark.lab

PODMAN_FLAGS = ["--storage-driver", "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs"]


def _assert_nothing_left(home, proc):
    assert not (home / ".mitmproxy").exists()  # mitmproxy's confdir (and CA key) were the run's own
    assert "Traceback" not in proc.stderr


def _assert_redirects_and_cdn(session, image):
    steps = session.steps
    redirects = [s for s in steps if s.kind.value == "blob-redirect"]
    downloads = [s for s in steps if s.kind.value == "cdn-download"]
    blobs = {image.config_digest, *(layer.digest for layer in image.layers)}
    assert {s.exchange.status for s in redirects} == {307}
    assert {s.exchange.url.split("/")[2] for s in downloads} == {"cdn.pulltrace.test"}
    assert {s.exchange.body_sha256 for s in downloads} == blobs  # every blob, hashed while streamed


def test_skopeo_copy_with_credentials_is_captured_end_to_end(lab, env, home, tmp_path):
    out = tmp_path / "out"
    proc = pulltrace(["capture", "-o", str(out), "--", "skopeo", "copy", "--src-creds", "alice:alice-pass",
                      f"docker://{lab.host('hub')}/team/app:latest", f"dir:{tmp_path / 'app'}"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "app" / "manifest.json").is_file()
    session = pull_of(trace_in(out), "team/app")
    assert {"ping", "token", "manifest", "blob-redirect", "cdn-download"} <= kinds(session.steps)
    (token,) = [s for s in session.steps if s.kind.value == "token"]
    assert (token.exchange.request_header("Authorization") or "").startswith("Basic ")
    assert token.exchange.token_claims["sub"] == "alice"
    assert session.summary.scopes_granted == ["repository:team/app:pull"]
    _assert_redirects_and_cdn(session, lab.images["team/app"])
    assert "Session 1: hub.pulltrace.test/team/app:latest" in proc.stderr  # the step table
    assert sorted(p.name for p in out.iterdir()) == ["pulltrace.html", "pulltrace.json"]
    _assert_nothing_left(home, proc)


def test_podman_pull_is_captured(lab, env, home, tmp_path):
    out = tmp_path / "out"
    short = Path(tempfile.mkdtemp(prefix="wrapper-podman-"))  # podman refuses a runroot over 50 characters
    storage = ["--root", str(short / "root"), "--runroot", str(short / "run")]
    proc = pulltrace(["capture", "-o", str(out), "--outputs", "console,json", "--", "podman", *storage,
                      *PODMAN_FLAGS, "pull", f"{lab.host('hub')}/library/three"], env, tmp_path)
    shutil.rmtree(short, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    session = pull_of(trace_in(out), "library/three")
    assert {"ping", "token", "manifest", "blob-redirect", "cdn-download"} <= kinds(session.steps)
    _assert_redirects_and_cdn(session, lab.images["library/three"])
    _assert_nothing_left(home, proc)


def test_ctr_pull_is_captured(lab, env, home, tmp_path, containerd):
    containerd.forget()
    out = tmp_path / "out"
    ref = f"{lab.host('hub')}/library/tiny-plus:latest"
    proc = pulltrace(["capture", "-o", str(out), "--outputs", "json", "--",
                      *containerd.argv("images", "pull", ref)], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    session = pull_of(trace_in(out), "library/tiny-plus")
    assert {"manifest-head", "token", "manifest", "blob-redirect", "cdn-download"} <= kinds(session.steps)
    _assert_redirects_and_cdn(session, lab.images["library/tiny-plus"])
    assert "Session 1" not in proc.stderr  # no console in --outputs: no table
    _assert_nothing_left(home, proc)


def test_curl_is_captured_and_its_exit_status_is_the_captures(lab, env, home, tmp_path):
    out = tmp_path / "out"
    proc = pulltrace(["capture", "-o", str(out), "--outputs", "json", "--", "curl", "-sSf", "-o", "/dev/null",
                      lab.url("hub") + "/v2/"], env, tmp_path)
    assert proc.returncode == 22  # curl -f on a 401
    (ping,) = [s for s in all_steps(trace_in(out)) if s.kind.value == "ping"]
    assert (ping.exchange.url, ping.exchange.status) == ("https://hub.pulltrace.test/v2/", 401)
    assert ping.exchange.request_header("User-Agent").startswith("curl/")
    _assert_nothing_left(home, proc)


def test_pulltraces_own_pull_is_captured(lab, env, home, tmp_path):
    out = tmp_path / "out"
    proc = pulltrace(["capture", "-o", str(out), "--outputs", "json", "--", sys.executable, "-m", "pulltrace", "pull",
                      f"{lab.host('hub')}/library/tiny", "--no-output", "-q", "--cache", str(tmp_path / "cache")],
                     env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    session = pull_of(trace_in(out), "library/tiny")
    assert session.summary.manifest_digest == lab.images["library/tiny"].digest
    _assert_redirects_and_cdn(session, lab.images["library/tiny"])
    _assert_nothing_left(home, proc)


def test_a_client_that_rejects_the_proxys_certificate_gets_a_plain_line(lab, env, home, tmp_path):
    # curl told to trust only the system store: it refuses mitmproxy's certificate (unknown ca).
    proc = pulltrace(["capture", "-o", str(tmp_path / "out"), "--outputs", "console", "--", "curl", "-sS",
                      "--cacert", "/etc/ssl/certs/ca-certificates.crt", lab.url("hub") + "/v2/"], env, tmp_path)
    assert proc.returncode == 60  # curl's "peer certificate cannot be authenticated"
    assert ("pulltrace: curl rejected the proxy's certificate for hub.pulltrace.test (once): it does not use the "
            "CA pulltrace gave it in SSL_CERT_FILE. Give it the proxy's CA with --cacert \"$PULLTRACE_CA_CERT\"") \
        in proc.stderr


def test_a_registry_mitmproxy_cannot_verify_is_named_and_ca_cert_fixes_it(lab, env, home, tmp_path):
    import certifi

    # A machine whose store lacks the lab's CA: mitmproxy answers skopeo with a 502.
    untrusting = dict(env, SSL_CERT_FILE=certifi.where())
    argv = ["--", "skopeo", "inspect", "--raw", f"docker://{lab.host('hub')}/library/tiny"]
    proc = pulltrace(["capture", "-o", str(tmp_path / "o1"), "--outputs", "console", *argv], untrusting, tmp_path)
    assert proc.returncode == 1
    assert "502 (Bad Gateway)" in proc.stderr  # what skopeo says
    assert ("pulltrace: mitmproxy could not verify hub.pulltrace.test's certificate (Certificate verify failed: "
            "self-signed certificate in certificate chain): this is the proxy's trust, not skopeo's. It trusts this "
            "machine's CA store; if hub.pulltrace.test has a private CA, pass --ca-cert FILE (that CA, PEM) to "
            "pulltrace capture.") in proc.stderr

    fixed = pulltrace(["capture", "-o", str(tmp_path / "o2"), "--outputs", "json", "--ca-cert", str(lab.ca_path),
                       *argv], untrusting, tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["config"]["digest"] == lab.images["library/tiny"].config_digest
    assert "could not verify" not in fixed.stderr


def test_an_upstream_that_does_not_answer_is_named(lab, env, tmp_path):
    proc = pulltrace(["capture", "-o", str(tmp_path / "out"), "--outputs", "console", "--", "curl", "-sS",
                      "https://nonexistent.pulltrace.test/v2/"], env, tmp_path)
    assert proc.returncode == 56  # curl: the proxy's CONNECT answered 502
    assert ("pulltrace: mitmproxy could not reach nonexistent.pulltrace.test:443: [Errno -2] Name or service not "
            "known.") in proc.stderr
