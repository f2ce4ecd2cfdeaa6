"""Manifest checks of a pull that need no network: digests from bytes, schema1, platforms."""

from __future__ import annotations

import hashlib
import json

import pytest

from pulltrace.client.errors import DigestMismatch, ManifestInvalid, ManifestUnsupported
from pulltrace.client.pull import Puller, PullOptions, _parse, host_default_platform
from pulltrace.client.registry import ManifestBytes, error_codes
from pulltrace.manifest import DOCKER_MANIFEST
from pulltrace.reference import parse_reference

BODY = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                   "config": {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": 1}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()


def manifest(header_digest: str | None) -> ManifestBytes:
    return ManifestBytes(BODY, DOCKER_MANIFEST, header_digest, "https://r/v2/a/manifests/x", "c0004")


@pytest.fixture
def puller():
    p = Puller(PullOptions(parse_reference("r.example/a:1")))
    yield p
    p.close()


def test_bytes_fetched_by_tag_must_match_their_docker_content_digest(puller):
    wrong = "sha256:" + "f" * 64
    with pytest.raises(DigestMismatch) as e:
        puller._verify(manifest(wrong), "manifest r.example/a:1", fetched_by=None)
    assert str(e.value) == (f"manifest r.example/a:1 fetched by tag arrived as bytes hashing to {DIGEST}, but its "
                            f"Docker-Content-Digest is {wrong}; refusing it (altered on the way?)")
    assert puller._verify(manifest(DIGEST), "m", fetched_by=None) == DIGEST
    assert puller._verify(manifest(None), "m", fetched_by=None) == DIGEST
    assert puller.notes == []


def test_a_wrong_header_beside_bytes_that_verified_is_only_noted(puller):
    wrong = "sha256:" + "f" * 64
    assert puller._verify(manifest(wrong), "m", fetched_by=DIGEST) == DIGEST
    assert len(puller.notes) == 1 and wrong in puller.notes[0] and "c0004" in puller.notes[0]


def test_bytes_fetched_by_digest_must_hash_to_it(puller):
    expected = "sha256:" + "e" * 64
    with pytest.raises(DigestMismatch) as e:
        puller._verify(manifest(None), "manifest r.example/a:1", fetched_by=expected)
    assert str(e.value) == (f"manifest r.example/a:1 fetched by digest {expected} arrived as bytes hashing to "
                            f"{DIGEST}; refusing it (altered on the way, or the registry's storage is damaged)")


def test_an_index_entry_size_must_match_the_bytes(puller):
    with pytest.raises(ManifestInvalid, match=f"is {len(BODY)} bytes but the index says 3; refusing it"):
        puller._verify(manifest(None), "platform manifest linux/amd64 of a", fetched_by=DIGEST, size=3)


def test_schema1_is_refused_with_a_clear_error():
    body = json.dumps({"schemaVersion": 1, "name": "a", "tag": "1", "fsLayers": [], "history": []}).encode()
    with pytest.raises(ManifestUnsupported, match="schema1"):
        _parse(ManifestBytes(body, "application/vnd.docker.distribution.manifest.v1+prettyjws", None, "", "c1"),
               parse_reference("r.example/a:1"), "manifest r.example/a:1")


def test_host_platform_is_normalised():
    assert host_default_platform().os == "linux"
    assert host_default_platform().architecture in ("amd64", "arm64", "arm", "386", "s390x", "ppc64le", "riscv64")


def test_registry_error_codes():
    assert error_codes(b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}') == [
        ("MANIFEST_UNKNOWN", "manifest unknown")]
    assert error_codes("true") == [] and error_codes(None) == []
