"""`pulltrace doctor` against the lab's real registries: each fault the lab can make is
reproduced with the built-in client, and the expected finding must come first.

Healthy pulls from every registry shape must raise no warning or error.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from pulltrace.commands import doctor as doctor_cli
from pulltrace.commands.main import build_parser, main

pytestmark = pytest.mark.lab

_HEAD = re.compile(r"^(ERROR|WARNING|info)  ")


def findings_of(out: str) -> list[tuple[str, str]]:
    """(severity, rule) of each finding printed, in order."""
    found, severity = [], None
    for line in out.splitlines():
        m = _HEAD.match(line)
        if m:
            severity = m.group(1)
        elif line.startswith("  rule:  ") and severity:
            found.append((severity, line.split()[-1]))
            severity = None
    return found


def doctor(capsys, *argv: str) -> tuple[int, list[tuple[str, str]], str]:
    status = main(["doctor", *argv])
    captured = capsys.readouterr()
    return status, findings_of(captured.out), captured.out + captured.err


@pytest.mark.parametrize("argv", [
    ["{hub}/library/tiny"],
    ["{hub}/library/tiny-plus"],
    ["{hub}/library/three"],
    ["{hub}/library/multi", "--platform", "linux/arm64"],
    ["{hub}/library/multi-oci"],
    ["{hub}/team/app", "-u", "alice", "-p", "alice-pass"],
    ["{hub}/private/secret", "-u", "admin", "-p", "admin-pass"],
    ["{gcr}/library/tiny"],
    ["{basic}/library/tiny", "-u", "admin", "-p", "admin-pass"],
    ["{harbor}/library/tiny", "-u", "admin", "-p", "admin-pass"],
    ["{mirror}/library/tiny"],
    ["{plain}/library/tiny", "--insecure-registry", "{plain}"],
    ["{hub}/library/tiny", "--registry-proxy", "https://{proxy}/docker-registry",
     "--auth-proxy", "https://{proxy}/docker-auth", "--blob-proxy", "https://{proxy}/docker-blob"],
], ids=lambda argv: argv[0].split("}")[0].strip("{") + ":" + argv[0].split("/", 1)[1])
def test_healthy_pulls_raise_no_alarm(lab, capsys, argv):
    hosts = {name: lab.host(name) for name in ("hub", "gcr", "basic", "harbor", "mirror", "proxy")}
    hosts["plain"] = lab.host('plain')
    status, found, out = doctor(capsys, *[a.format(**hosts) for a in argv])
    assert status == 0, out
    assert [f for f in found if f[0] != "info"] == [], out


def test_wrong_password(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('hub')}/library/tiny", "-u", "admin", "-p", "not-the-password")
    assert status == 1
    assert found[0] == ("ERROR", "auth.wrong-credentials"), out
    assert "'admin'" in out and lab.host("auth") in out


def test_wrong_password_on_a_basic_auth_registry(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('basic')}/library/tiny", "-u", "admin", "-p", "nope")
    assert status == 1 and found[0] == ("ERROR", "auth.wrong-credentials"), out


def test_restricted_user_lacks_the_scope(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('hub')}/private/secret", "-u", "alice", "-p", "alice-pass")
    assert status == 1
    assert found[0] == ("ERROR", "auth.insufficient-scope"), out
    # The token's claims are read before masking: what was asked and what was granted.
    assert "repository:private/secret:pull" in out and "lists no actions" in out


def test_anonymous_pull_of_a_private_repository(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('hub')}/private/secret")
    assert status == 1 and found[0] == ("ERROR", "auth.anonymous-private"), out
    assert f"docker login {lab.host('hub')}" in out


def test_short_lived_token_over_a_slow_pull(lab, capsys):
    """User brief's tokens live a few seconds; a slow network makes the pull outlive one."""
    from pulltrace.client.tls import ssl_context

    lifetime = lab.settings.brief_lifetime

    class SlowFirstBlob(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport(verify=ssl_context([Path(lab.ca_path)]))
            self.slowed = False

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if "/blobs/" in request.url.path and not self.slowed:
                self.slowed = True
                time.sleep(lifetime + 1.5)
            return self.inner.handle_request(request)

        def close(self) -> None:
            self.inner.close()

    args = build_parser().parse_args(["doctor", f"{lab.host('hub')}/library/tiny", "-u", "brief", "-p", "brief-pass"])
    status = doctor_cli.run(args, http_transport=SlowFirstBlob())
    out = capsys.readouterr().out
    found = findings_of(out)
    assert found and found[0][1] == "auth.token-expired", out
    # The built-in client asks for a new token on 401, so the pull still works: a warning.
    assert found[0][0] == "WARNING" and status == 0
    assert f"valid for {lifetime} s" in out


def test_https_to_a_plain_http_registry(lab, capsys):
    plain = lab.host('plain')
    status, found, out = doctor(capsys, f"{plain}/library/tiny")
    assert status == 1 and found[0] == ("ERROR", "transport.https-to-http"), out
    assert f"--insecure-registry {plain}" in out


def test_plain_http_to_an_https_registry(lab, capsys):
    hub = lab.host("hub")
    status, found, out = doctor(capsys, f"{hub}/library/tiny", "--registry-proxy", f"http://{hub}:{lab.settings.ports.tls}")
    assert status == 1 and found[0] == ("ERROR", "transport.http-to-https"), out


def test_client_without_the_lab_ca(lab, capsys, monkeypatch, tmp_path):
    """A client whose trust store lacks the lab CA: only certifi's public roots."""
    certifi = pytest.importorskip("certifi")
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    status, found, out = doctor(capsys, f"{lab.host('hub')}/library/tiny")
    assert status == 1 and found[0] == ("ERROR", "transport.tls-untrusted"), out
    assert f"/etc/docker/certs.d/{lab.host('hub')}/ca.crt" in out


def test_unknown_tag(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('hub')}/library/tiny:no-such-tag")
    assert status == 1 and found[0] == ("ERROR", "manifest.unknown"), out
    assert "'no-such-tag'" in out


def test_unknown_repository(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('hub')}/library/no-such-image")
    assert status == 1 and found[0] == ("ERROR", "manifest.unknown"), out
    assert "no repository library/no-such-image" in out


def test_missing_library_prefix(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('hub')}/tiny")
    assert status == 1 and found[0] == ("ERROR", "manifest.missing-library"), out
    assert f"{lab.host('hub')}/library/tiny:latest" in out


def test_platform_absent_from_the_index(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('hub')}/library/multi", "--platform", "linux/s390x")
    assert status == 1 and found[0] == ("ERROR", "manifest.platform-missing"), out
    for platform in lab.images["library/multi"].platforms:
        assert str(platform) in out


def test_broken_mirror_falls_back_to_the_registry(lab, capsys):
    hub, plain = lab.host("hub"), lab.host('plain')
    # An https:// mirror URL for a plain-HTTP server: the mirror fails, the registry serves.
    status, found, out = doctor(capsys, f"{hub}/library/tiny", "--mirror", f"{hub}=https://{plain}")
    assert status == 0
    assert ("WARNING", "mirror.fallback") in found, out


def test_doctor_trace_of_a_saved_failed_pull(lab, capsys, tmp_path):
    saved = tmp_path / "secret.json"
    doctor(capsys, f"{lab.host('hub')}/private/secret", "--save-trace", str(saved))
    status, found, out = doctor(capsys, "--capture", str(saved))
    assert status == 1 and found[0] == ("ERROR", "auth.anonymous-private"), out
