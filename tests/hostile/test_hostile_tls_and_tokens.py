"""TLS failures name the host that failed and the fix for that host; token bodies are capped."""

from __future__ import annotations

import json

import pytest
from hostilehelpers import assert_refused, pull
from relay import Reply, Request, rewrite_realm

pytestmark = pytest.mark.lab

VERIFY_FAILED = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"


def test_tls_failure_at_the_token_service_names_it_and_its_fix(lab, relay, tmp_path, capsys, untrusted_cert):
    auth = relay("auth", trusted=False)
    realm_host = f"{lab.host('auth')}:{auth.port}"
    hub = relay("hub", rewrite_realm(f"https://{realm_host}/token"))
    hub_host = f"{lab.host('hub')}:{hub.port}"
    code, err, out = pull(capsys, tmp_path, f"{hub_host}/library/tiny")
    assert_refused(code, err, out, f"TLS failure talking to the token service {realm_host} (the realm "
                                   f"{hub_host}'s challenge named): {VERIFY_FAILED}")
    assert err.endswith(f"; trust the CA that signed {realm_host}'s certificate with --ca-cert FILE\n")
    assert "--insecure-registry" not in err
    # The fix it names is the one that works.
    code, err, out = pull(capsys, tmp_path, f"{hub_host}/library/tiny", "--ca-cert", str(untrusted_cert[0]))
    assert code == 0, err
    assert out.exists() and any(r.path.startswith("/token?") for r in auth.requests)


def test_tls_failure_at_the_download_host_names_it_and_its_fix(lab, relay, tmp_path, capsys):
    cdn = relay("cdn", trusted=False)
    cdn_host = f"{lab.host('cdn')}:{cdn.port}"
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}/library/tiny", "--blob-proxy", f"https://{cdn_host}")
    assert_refused(code, err, out, f"TLS failure talking to the download host {cdn_host} (a redirect from "
                                   f"{lab.host('hub')}): {VERIFY_FAILED}")
    assert err.endswith(f"; trust the CA that signed {cdn_host}'s certificate with --ca-cert FILE\n")
    assert "--insecure-registry" not in err


def test_tls_failure_at_the_registry_names_it_and_both_fixes(lab, relay, tmp_path, capsys):
    hub = relay("hub", trusted=False)
    hub_host = f"{lab.host('hub')}:{hub.port}"
    code, err, out = pull(capsys, tmp_path, f"{hub_host}/library/tiny")
    assert_refused(code, err, out, f"TLS failure talking to {hub_host}: {VERIFY_FAILED}")
    assert err.endswith(f"; trust its CA with --ca-cert FILE or, for a test registry, --insecure-registry "
                        f"{hub_host}\n")
    code, err, out = pull(capsys, tmp_path, f"{hub_host}/library/tiny", "--insecure-registry", hub_host)
    assert code == 0, err


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_token_response_is_refused_while_it_streams(lab, relay, tmp_path, capsys, chunked):
    body = json.dumps({"token": "a" * (32 * 1024 * 1024), "expires_in": 300}).encode()

    def huge(request: Request, forward) -> Reply:
        return Reply(200, [("Content-Type", "application/json")], body, chunked=chunked)

    auth = relay("auth", huge)
    realm_host = f"{lab.host('auth')}:{auth.port}"
    hub = relay("hub", rewrite_realm(f"https://{realm_host}/token"))
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}:{hub.port}/library/tiny")
    seen = "more than that sent" if chunked else f"{len(body)} bytes announced"
    assert_refused(code, err, out, f"{realm_host} sent a token response larger than 1.0 MiB ({seen}) for "
                                   f"https://{realm_host}/token; refusing it — no registry needs one that large")
    if chunked:
        assert auth.bytes_sent < len(body) // 2
