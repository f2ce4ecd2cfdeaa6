"""Trust failures in plain words: who refused whom, for which host, and the fix."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pulltrace.capture.tlswatch import (
    CLIENT_CLOSED,
    CLIENT_REJECTED,
    UNREACHABLE,
    UPSTREAM_UNVERIFIED,
    TrustEvent,
    TrustWatch,
    client_rejected,
    summary_lines,
)


@pytest.mark.parametrize(("error", "rejected"), [
    # mitmproxy's own wording (proxy/layers/tls.py, ClientTLSLayer.on_handshake_error)
    ("The client does not trust the proxy's certificate for hub.example (sslv3 alert unknown ca)", True),
    ("The client may not trust the proxy's certificate for hub.example (sslv3 alert bad certificate)", True),
    ("Client and mitmproxy cannot agree on a TLS version to use.", False),
    ("connection closed early", False),
])
def test_only_a_refused_certificate_counts_as_a_trust_failure(error, rejected):
    assert client_rejected(error) is rejected


def _tls_data(sni, error, server=("10.0.0.1", 443)):
    conn = SimpleNamespace(sni=sni, error=error, address=None, peername=("127.0.0.1", 50000))
    return SimpleNamespace(conn=conn, context=SimpleNamespace(server=SimpleNamespace(sni=None, address=server)))


def test_repeated_handshakes_are_one_record_with_a_count():
    watch = TrustWatch()
    for _ in range(3):
        watch.tls_failed_client(_tls_data("hub.example", "The client does not trust the proxy's certificate"))
    watch.tls_failed_client(_tls_data("cdn.example", "The client does not trust the proxy's certificate"))
    assert sorted((e.host, e.count) for e in watch.snapshot()) == [("cdn.example", 1), ("hub.example", 3)]


def test_an_upstream_that_fails_verification_is_recorded_by_name():
    watch = TrustWatch()
    conn = SimpleNamespace(sni="hub.example", error="Certificate verify failed: self-signed certificate",
                           address=("hub.example", 443))
    watch.tls_failed_server(SimpleNamespace(conn=conn))
    assert [(e.kind, e.host) for e in watch.snapshot()] == [(UPSTREAM_UNVERIFIED, "hub.example")]


def test_a_rejected_certificate_names_the_client_and_its_ca_flag():
    lines = summary_lines([TrustEvent(CLIENT_REJECTED, "hub.example", "unknown ca", 2)], "curl")
    assert lines == [
        "curl rejected the proxy's certificate for hub.example (2 times): it does not use the CA pulltrace gave "
        "it in SSL_CERT_FILE. Give it the proxy's CA with --cacert \"$PULLTRACE_CA_CERT\" (pulltrace sets "
        "$PULLTRACE_CA_CERT and $PULLTRACE_CERT_DIR for it), or capture it with `pulltrace mirror`, which needs "
        "no CA."]


def test_an_unverified_upstream_is_the_proxys_trust_and_ca_cert_is_the_fix():
    lines = summary_lines([TrustEvent(UPSTREAM_UNVERIFIED, "hub.example", "certificate verify failed")], "skopeo")
    assert lines == [
        "mitmproxy could not verify hub.example's certificate (certificate verify failed): this is the proxy's "
        "trust, not skopeo's. It trusts this machine's CA store; if hub.example has a private CA, pass "
        "--ca-cert FILE (that CA, PEM) to pulltrace capture."]
    assert summary_lines([TrustEvent(UPSTREAM_UNVERIFIED, "h", "e")], mirror=True)[0].endswith("to pulltrace mirror.")


def test_an_unreachable_upstream_is_one_line():
    assert summary_lines([TrustEvent(UNREACHABLE, "hub.example:443", "Connection refused")]) == [
        "mitmproxy could not reach hub.example:443: Connection refused."]


def test_a_handshake_the_client_only_closed_is_mentioned_when_the_command_failed():
    watch = TrustWatch()
    watch.tls_failed_client(_tls_data("hub.example", "The client disconnected during the handshake. If this happens "
                                      "consistently for hub.example, this may indicate that the client does not "
                                      "trust the proxy's certificate."))
    events = watch.snapshot()
    assert [e.kind for e in events] == [CLIENT_CLOSED]
    assert summary_lines(events, "crane", failed=False) == []
    assert summary_lines(events, "crane", failed=True) == [
        "crane closed 1 TLS handshake with the proxy for hub.example without a word: if it failed on trust, it may "
        "not use the CA pulltrace gave it in SSL_CERT_FILE; its own CA option can take \"$PULLTRACE_CA_CERT\"."]


def test_a_client_run_by_a_shell_is_not_called_the_shell():
    (line,) = summary_lines([TrustEvent(CLIENT_REJECTED, "hub.example", "bad certificate")], "sh")
    assert line.startswith("a client run by sh rejected the proxy's certificate for hub.example (once)")
