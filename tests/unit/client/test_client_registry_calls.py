"""The registry calls against a hostile or flaky server, over httpx's MockTransport."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from pulltrace.client.auth_flow import RegistryAuth
from pulltrace.client.endpoints import Endpoint
from pulltrace.client.errors import ManifestInvalid, ResponseTooLarge
from pulltrace.client.recorder import Recorder
from pulltrace.client.registry import RegistryClient
from pulltrace.client.retry import RetryPolicy, Sleeper
from pulltrace.client.transport import MAX_MANIFEST_BYTES, Transport

BODY = json.dumps({"schemaVersion": 2, "layers": []}).encode()


def client(handler) -> RegistryClient:
    transport = Transport(RegistryAuth(), Recorder(), http_transport=httpx.MockTransport(handler))
    return RegistryClient(transport, Endpoint("https://r.example"), "a", display_name="r.example/a:1",
                          policy=RetryPolicy(base_delay=0), sleep=Sleeper())


def test_a_manifest_after_a_broken_connection_is_still_capped():
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, content=b"x" * (MAX_MANIFEST_BYTES + 1))

    with pytest.raises(ResponseTooLarge, match="^r.example sent a manifest larger than 4.2 MiB"):
        client(handler).get_manifest("1")
    assert len(calls) == 2


def test_a_manifest_at_the_cap_is_read():
    body = BODY.ljust(MAX_MANIFEST_BYTES, b" ")
    got = client(lambda request: httpx.Response(200, content=body)).get_manifest("1")
    assert got.body == body


def test_head_digest_is_checked_before_it_becomes_a_path():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:../../b/manifests/2"})

    with pytest.raises(ManifestInvalid, match="^the Docker-Content-Digest r.example answered to HEAD r.example/a:1 "
                                              "has a malformed digest 'sha256:../../b/manifests/2'"):
        client(handler).head_manifest("1")
    digest = "sha256:" + hashlib.sha256(BODY).hexdigest()
    ok = client(lambda request: httpx.Response(200, headers={"Docker-Content-Digest": f" {digest} "}))
    assert ok.head_manifest("1") == digest
    assert client(lambda request: httpx.Response(200)).head_manifest("1") is None
