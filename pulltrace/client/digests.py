"""Digests from the wire, checked where they enter: manifests, headers, references.

A digest names content, and the client turns it into a URL path (`/blobs/<digest>`) and a
cache file name (`<cache>/sha256/<hex>`), so one from a hostile registry must be refused
before it is used: the OCI image spec's grammar (descriptor.md, "Digests")

    digest    ::= algorithm ":" encoded
    algorithm ::= component ([+._-] component)*      component ::= [a-z0-9]+
    encoded   ::= [a-zA-Z0-9=_-]+

admits no `/` and no `..`. Of the registered algorithms pulltrace verifies sha256 (what
every registry serves); a valid sha512 digest is refused by name rather than mis-verified.
"""

from __future__ import annotations

import hashlib
import re

from pulltrace.client.errors import ManifestInvalid

_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")
# The OCI spec's registered algorithms and the length of their lowercase-hex encodings.
REGISTERED = {"sha256": 64, "sha512": 128}
_SHOWN = 80


def shown(value: object) -> str:
    """A wire value for a one-line message: repr (control bytes escaped), cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def check_digest(value: object, what: str) -> str:
    """`value` if it is a sha256 digest; else ManifestInvalid saying what is wrong with it.

    `what` names where it came from: "layer 2 of hub.example/app:1".
    """
    if is_sha256(value):
        assert isinstance(value, str)
        return value
    if not isinstance(value, str):
        raise ManifestInvalid(f"{what} has a digest that is not a string ({shown(value)}); "
                              "the registry sent a malformed manifest")
    if not _GRAMMAR.fullmatch(value):
        raise ManifestInvalid(f"{what} has a malformed digest {shown(value)} (a digest is algorithm:hex, "
                              "e.g. sha256:<64 hex>); the registry sent a malformed manifest")
    algorithm, encoded = value.split(":", 1)
    if algorithm in REGISTERED and (len(encoded) != REGISTERED[algorithm]
                                    or not re.fullmatch(r"[a-f0-9]+", encoded)):
        raise ManifestInvalid(f"{what} has a malformed {algorithm} digest {shown(value)} "
                              f"({REGISTERED[algorithm]} lowercase hex characters expected)")
    raise ManifestInvalid(f"{what} uses digest algorithm {shown(algorithm)}; pulltrace verifies sha256 "
                          "digests only")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
