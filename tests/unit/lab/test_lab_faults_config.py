"""The fault hosts' nginx configuration: quoting of the bodies nginx answers with, the
values tests and README quote, and that nginx itself accepts the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pulltrace.lab import faults, nginx, pki
from pulltrace.lab.endpoints import endpoints
from pulltrace.lab.settings import LabSettings, Ports


def _settings(tmp_path: Path, tls: int = 443) -> LabSettings:
    return LabSettings(state_dir=tmp_path, ports=Ports.from_base(tls=tls))


def test_bodies_are_what_docker_hub_and_s3_send():
    (error,) = json.loads(faults.too_many_requests_body())["errors"]
    assert error["code"] == "TOOMANYREQUESTS"
    assert faults.expired_body().startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>')
    assert faults.remaining(0) == "0;w=21600" and faults.RATE_LIMIT == "100;w=21600"


def test_quoting_survives_quotes_backslashes_and_newlines():
    assert nginx._quoted('a\'b"c\\d\ne') == "'a\\'b\"c\\\\d\\ne'"


def test_fault_servers_follow_the_tls_port(tmp_path):
    s = _settings(tmp_path, tls=8443)
    text = nginx.render(s, pki.Pki(tmp_path / "pki"))
    # hub's 307 names https://cdn.pulltrace.test:8443; the rewrites must match that.
    assert (
        r"proxy_redirect ~^https://cdn\.pulltrace\.test:8443/(.*)$"
        r" https://expired-cdn.pulltrace.test:8443/$1?"
    ) in text
    assert (
        r"proxy_redirect ~^https://cdn\.pulltrace\.test:8443/"
        r" https://loop-cdn.pulltrace.test:8443$request_uri;"
    ) in text
    assert "return 307 https://loop.pulltrace.test:8443$request_uri;" in text


def test_fault_endpoints_share_hubs_service_and_describe_the_fault(tmp_path):
    eps = endpoints(_settings(tmp_path))
    for name in ("quota", "ratelimit", "expired", "loop"):
        assert eps[name].service == "hub.pulltrace.test" and eps[name].registry
    assert not eps["expired-cdn"].registry and eps["expired-cdn"].healthy == frozenset({403})
    assert eps["loop-cdn"].healthy == frozenset({307})
    assert "429 TOOMANYREQUESTS" in eps["ratelimit"].flow and faults.RATE_LIMIT in eps["quota"].flow


def test_nginx_accepts_the_generated_configuration(tmp_path):
    if not Path(nginx.NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    s = _settings(tmp_path, tls=18443)
    s.paths.make()
    keys = pki.ensure_pki(s.paths.pki, s.hostnames)
    conf = s.paths.conf / "nginx.conf"
    conf.write_text(nginx.render(s, keys).replace("user root;\n", ""))
    error_log = s.paths.log("nginx-error")
    assert nginx.check(conf, s.paths.root, error_log) is None
    # …and the check does catch a broken body quote.
    conf.write_text(conf.read_text().replace("return 429 '{", "return 429 {", 1))
    assert nginx.check(conf, s.paths.root, error_log) is not None
