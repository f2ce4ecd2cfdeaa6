"""Transport rules on recorded pulls: TLS trust, wrong scheme, unreachable hosts, proxy bypass."""

from __future__ import annotations

import json

from diagnose_recorded import AUTH, CHALLENGE, HUB, Recorder, healthy_hub_pull

from pulltrace.diagnose import diagnose
from pulltrace.model import Session, Severity, StepKind

PLAIN = "plain.pulltrace.test:5000"


def test_untrusted_registry_certificate():
    r = Recorder(client="skopeo")
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", None,
          error='Get "https://hub.pulltrace.test/v2/": x509: certificate signed by unknown authority')
    f = diagnose(r.session())[0]
    assert f.rule == "transport.tls-untrusted" and f.severity == Severity.ERROR
    assert f"/etc/docker/certs.d/{HUB}/ca.crt" in f.fix


def test_proxy_502_for_an_untrusted_upstream():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 502,
          body="Certificate verify failed: unable to get local issuer certificate")
    f = diagnose(r.session())[0]
    assert f.rule == "transport.tls-untrusted"
    assert "ssl_verify_upstream_trusted_ca" in f.fix


def test_https_spoken_to_a_plain_http_registry():
    r = Recorder(client="skopeo")
    r.add(StepKind.PING, "GET", f"https://{PLAIN}/v2/", None,
          error='Get "https://plain.pulltrace.test:5000/v2/": http: server gave HTTP response to HTTPS client')
    f = diagnose(r.session(registry=PLAIN))[0]
    assert f.rule == "transport.https-to-http" and f.severity == Severity.ERROR
    assert "insecure-registries" in f.fix and PLAIN in f.fix


def test_httpx_wrong_version_number_is_https_to_http():
    r = Recorder(client="pulltrace")
    r.add(StepKind.PING, "GET", f"https://{PLAIN}/v2/", None,
          error="[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert diagnose(r.session(registry=PLAIN))[0].rule == "transport.https-to-http"


def test_plain_http_spoken_to_an_https_registry():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"http://{HUB}:443/v2/", 400,
          body="<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head></html>")
    f = diagnose(r.session(registry=f"{HUB}:443"))[0]
    assert f.rule == "transport.http-to-https"
    assert f"https://{HUB}" in f.fix


def test_registry_connection_refused():
    r = Recorder()
    r.add(StepKind.PING, "GET", "https://gone.pulltrace.test/v2/", None, error="[Errno 111] Connection refused")
    f = diagnose(r.session(registry="gone.pulltrace.test"))[0]
    assert f.rule == "transport.unreachable" and "refused" in f.cause


def test_dockerd_falls_back_to_plain_http():
    # dockerd treats loopback registries as insecure: HTTPS fails, it retries over http://.
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{PLAIN}/v2/", None, error="http: server gave HTTP response to HTTPS client")
    r.add(StepKind.PING, "GET", f"http://{PLAIN}/v2/", 200)
    r.add(StepKind.MANIFEST, "GET", f"http://{PLAIN}/v2/library/tiny/manifests/latest", 200,
          response_headers=[("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")])
    findings = diagnose(r.session(registry=PLAIN))
    assert not [f for f in findings if f.severity == Severity.ERROR]
    assert {f.rule for f in findings} == {"transport.plain-http"}
    plain = next(f for f in findings if f.rule == "transport.plain-http")
    assert "after HTTPS failed" in plain.title and plain.severity == Severity.INFO


def test_credentials_over_plain_http_are_a_warning():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"http://{PLAIN}/v2/", 200, request_headers=[("Authorization", "Basic YWRt…")])
    f = diagnose(r.session(registry=PLAIN))[0]
    assert (f.rule, f.severity) == ("transport.plain-http", Severity.WARNING)


def test_server_error():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 200)
    r.add(StepKind.ERROR, "GET", f"https://{HUB}/v2/library/tiny/manifests/latest", 500,
          response_headers=[("Docker-Distribution-Api-Version", "registry/2.0")],
          body='{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}')
    f = diagnose(r.session())[0]
    assert f.rule == "registry.server-error" and "500" in f.title


def test_pull_that_bypassed_the_proxy_after_the_token():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 401, response_headers=[("WWW-Authenticate", CHALLENGE)])
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?scope=repository%3Alibrary%2Ftiny%3Apull&service={HUB}", 200,
          body=json.dumps({"token": "eyJhbGci…"}))
    findings = diagnose(r.session())
    assert [(f.rule, f.severity) for f in findings] == [("transport.proxy-bypass", Severity.WARNING)]
    assert "loopback" in findings[0].fix


def test_empty_session_is_a_bypass():
    findings = diagnose(Session(id="s1"))
    assert [f.rule for f in findings] == ["transport.proxy-bypass"]


def test_docker_login_is_not_a_bypass():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 401, response_headers=[("WWW-Authenticate", CHALLENGE)])
    r.add(StepKind.LOGIN, "GET", f"https://{AUTH}/token?account=admin&client_id=docker&offline_token=true&service={HUB}",
          200, request_headers=[("Authorization", "Basic YWRt…")], body=json.dumps({"token": "eyJhbGci…"}))
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 200, request_headers=[("Authorization", "Bearer eyJhbGci…")])
    assert diagnose(r.session()) == []
    session = r.session()
    session.action = "login"
    assert diagnose(session) == []


def test_healthy_pull_has_no_transport_finding():
    assert diagnose(healthy_hub_pull().session()) == []
