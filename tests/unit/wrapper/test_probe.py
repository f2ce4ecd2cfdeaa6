"""What a registry's /v2/ looks like (distribution spec), and what it does not."""

from __future__ import annotations

import pytest

from pulltrace.capture.probe import is_registry_answer


@pytest.mark.parametrize(("status", "headers", "registry"), [
    (200, {"Docker-Distribution-API-Version": "registry/2.0"}, True),
    (401, {"Docker-Distribution-Api-Version": "registry/2.0", "WWW-Authenticate": 'Bearer realm="x"'}, True),
    (401, {"www-authenticate": 'Bearer realm="https://ghcr.io/token"'}, True),  # no version header
    (401, {"WWW-Authenticate": 'Basic realm="Registry"'}, True),
    (404, {"Content-Type": "text/html"}, False),  # a web server or a CDN
    (200, {"Content-Type": "text/html"}, False),
    (401, {"WWW-Authenticate": 'Negotiate'}, False),
    (302, {"Location": "https://login.example"}, False),
])
def test_a_registry_is_told_from_anything_else(status, headers, registry):
    assert is_registry_answer(status, headers) is registry
