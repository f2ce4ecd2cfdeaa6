"""Digests from the wire: the OCI grammar, sha256 only, never a path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulltrace.client.cache import BlobCache, digest_hex
from pulltrace.client.digests import check_digest, shown
from pulltrace.client.errors import ManifestInvalid

GOOD = "sha256:" + "0123456789abcdef" * 4


def test_a_sha256_digest_passes_unchanged():
    assert check_digest(GOOD, "layer 1") == GOOD
    assert digest_hex(GOOD) == "0123456789abcdef" * 4


@pytest.mark.parametrize("value,message", [
    ("sha256:../../etc/passwd", "layer 1 has a malformed digest 'sha256:../../etc/passwd' (a digest is "
                                "algorithm:hex, e.g. sha256:<64 hex>); the registry sent a malformed manifest"),
    ("sha256/" + "a" * 64, "layer 1 has a malformed digest"),
    ("../" + "a" * 64, "layer 1 has a malformed digest"),
    ("", "layer 1 has a malformed digest ''"),
    ("sha256:" + "a" * 63, "layer 1 has a malformed sha256 digest 'sha256:" + "a" * 63 + "' (64 lowercase hex "
                           "characters expected)"),
    ("sha256:" + "A" * 64, "layer 1 has a malformed sha256 digest"),
    ("sha512:" + "a" * 128, "layer 1 uses digest algorithm 'sha512'; pulltrace verifies sha256 digests only"),
    ("md5:abc", "layer 1 uses digest algorithm 'md5'; pulltrace verifies sha256 digests only"),
    (None, "layer 1 has a digest that is not a string (None); the registry sent a malformed manifest"),
    (["sha256:" + "a" * 64], "layer 1 has a digest that is not a string"),
    ("sha256:" + "a" * 64 + "\n", "layer 1 has a malformed digest 'sha256:" + "a" * 64 + "\\n'"),
])
def test_malformed_or_unsupported_digests_are_one_line_errors(value, message):
    with pytest.raises(ManifestInvalid) as e:
        check_digest(value, "layer 1")
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


def test_a_huge_value_is_cut_short_in_the_message():
    with pytest.raises(ManifestInvalid) as e:
        check_digest("x" * 100_000, "layer 1")
    assert len(str(e.value)) < 300
    assert shown("\x1b[2J") == "'\\x1b[2J'"


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_any_text_is_a_safe_file_name_or_refused(tmp_path_factory, text):
    try:
        digest = check_digest(text, "d")
    except ManifestInvalid as e:
        assert "\n" not in str(e)
        return
    cache = BlobCache(tmp_path_factory.getbasetemp() / "digest-cache")
    path = cache.path(digest)
    assert path.parent == cache.root / "sha256" and "/" not in path.name and ".." not in path.name


@settings(max_examples=200)
@given(st.from_regex(r"[a-z0-9]{1,8}([+._-][a-z0-9]{1,8}){0,2}:[a-zA-Z0-9=_-]{1,130}", fullmatch=True))
def test_grammar_valid_digests_are_accepted_only_when_sha256(text):
    try:
        assert check_digest(text, "d") == text
        assert text.startswith("sha256:")
    except ManifestInvalid as e:
        assert "digest" in str(e)
