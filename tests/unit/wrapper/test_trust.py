"""The run's CA bundles and the command's environment: trust for one child, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulltrace.capture.trust import RunTrust, read_pem, run_trust, system_bundle, upstream_bundle
from pulltrace.capture.wrapper import child_env
from pulltrace.errors import UserError

PEM_A = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
PEM_B = b"-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----"


def test_the_system_bundle_is_the_one_ssl_cert_file_names(tmp_path):
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(PEM_A)
    assert system_bundle({"SSL_CERT_FILE": str(bundle)}) == bundle


def test_a_missing_ssl_cert_file_falls_back_to_the_distributions_bundle(tmp_path):
    found = system_bundle({"SSL_CERT_FILE": str(tmp_path / "gone.pem")})
    assert found is not None and found != tmp_path / "gone.pem" and found.is_file()


def test_mitmproxy_trusts_the_system_store_plus_each_ca_cert(tmp_path, monkeypatch):
    system = tmp_path / "system.pem"
    system.write_bytes(PEM_A)
    extra = tmp_path / "private-ca.pem"
    extra.write_bytes(PEM_B)
    monkeypatch.setenv("SSL_CERT_FILE", str(system))
    out = upstream_bundle(tmp_path / "run", [extra])
    assert out.read_bytes() == PEM_A + PEM_B + b"\n"


def test_a_ca_cert_that_holds_no_certificate_is_one_line(tmp_path):
    bad = tmp_path / "key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(UserError, match=r"--ca-cert .*key.pem: no PEM certificate in it"):
        read_pem(bad, "--ca-cert")
    with pytest.raises(UserError, match="cannot read"):
        read_pem(tmp_path / "missing.pem", "--ca-cert")


def test_the_child_trusts_the_system_store_and_the_proxys_ca(tmp_path, monkeypatch):
    system = tmp_path / "system.pem"
    system.write_bytes(PEM_A)
    monkeypatch.setenv("SSL_CERT_FILE", str(system))
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "mitmproxy-ca-cert.pem").write_bytes(PEM_B)
    trust = run_trust(tmp_path, confdir, tmp_path / "up.pem")
    assert trust.client_bundle.read_bytes() == PEM_A + PEM_B + b"\n"
    assert trust.proxy_ca == confdir / "mitmproxy-ca-cert.pem"


def test_the_childs_environment_has_the_proxy_and_the_ca_and_no_no_proxy(tmp_path):
    trust = RunTrust(proxy_ca=Path("/run/ca.pem"), client_bundle=Path("/run/bundle.pem"),
                     upstream_bundle=Path("/run/up.pem"))
    base = {"PATH": "/usr/bin", "NO_PROXY": "hub.example,.corp", "no_proxy": "*", "HTTPS_PROXY": "http://corp:3128"}
    env = child_env(base, "http://127.0.0.1:41000", trust, Path("/run/certs"))
    assert env == {
        "PATH": "/usr/bin",
        "HTTP_PROXY": "http://127.0.0.1:41000", "HTTPS_PROXY": "http://127.0.0.1:41000",
        "http_proxy": "http://127.0.0.1:41000", "https_proxy": "http://127.0.0.1:41000",
        "SSL_CERT_FILE": "/run/bundle.pem", "REQUESTS_CA_BUNDLE": "/run/bundle.pem",
        "CURL_CA_BUNDLE": "/run/bundle.pem", "GIT_SSL_CAINFO": "/run/bundle.pem",
        "NODE_EXTRA_CA_CERTS": "/run/ca.pem", "PULLTRACE_CA_CERT": "/run/ca.pem",
        "PULLTRACE_CERT_DIR": "/run/certs",
    }
    assert base["NO_PROXY"] == "hub.example,.corp"  # the caller's own environment is not changed
