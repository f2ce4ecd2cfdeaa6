"""Media types, manifests, indexes, image configs and platforms (Docker image spec and
OCI image spec).

Manifests come from registries and proxies that may be broken or hostile; the parsers
here return a value or raise `ManifestError` (a `UserError`) with one line naming the
field, never KeyError/TypeError/OverflowError. Types are checked as the OCI spec defines
them: sizes are int64 >= 0 (`1e999` and `true` are not sizes), digests are
`algorithm:encoded` strings, media types are strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pulltrace import jsonbound
from pulltrace.errors import UserError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
IMAGE_MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_MANIFEST_TYPES | SCHEMA1_TYPES
CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})

# The Accept header a modern client sends: every manifest form it can read.
ACCEPT_ALL_MANIFESTS = ", ".join(
    [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST]
)


# containerd refuses manifests over 4 MiB (remotes/docker/fetcher.go); so do we.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# An image config is larger (history, labels), but not by orders of magnitude.
MAX_CONFIG_BYTES = 8 * 1024 * 1024
_MAX_SIZE = 2**63 - 1  # int64, as the spec types a descriptor's size
# OCI image-spec descriptor.md: the digest grammar, and the encoded lengths of the
# registered algorithms.
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
_HEX_RE = re.compile(r"[a-f0-9]+", re.ASCII)
_REGISTERED = {"sha256": 64, "sha512": 128}
_MAX_DIGEST = 7 + 128 + 64  # the longest registered one, with room for unknown algorithms


class ManifestError(UserError, ValueError):
    """A manifest, index or config that cannot be read; the message says which field and why."""


def is_valid_digest(value: object) -> bool:
    """True for an OCI digest string: `sha256:` + 64 lowercase hex, `sha512:` + 128, or
    another algorithm in the spec's grammar."""
    if not isinstance(value, str) or len(value) > _MAX_DIGEST or not _DIGEST_RE.fullmatch(value):
        return False
    algorithm, _, encoded = value.partition(":")
    length = _REGISTERED.get(algorithm)
    return length is None or (len(encoded) == length and bool(_HEX_RE.fullmatch(encoded)))


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/arm64/v8`, `linux/amd64`; arm64 without a variant means v8."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None).normalised()

    def normalised(self) -> Platform:
        arch = {"x86_64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}.get(
            self.architecture, self.architecture
        )
        variant = self.variant
        if arch == "arm64" and variant in (None, "v8"):
            variant = "v8"
        return Platform(self.os, arch, variant)

    def matches(self, other: Platform) -> bool:
        a, b = self.normalised(), other.normalised()
        if a.os != b.os or a.architecture != b.architecture:
            return False
        return a.variant is None or b.variant is None or a.variant == b.variant


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None


def _string(d: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = d.get(key)
    if value is None:
        if required:
            raise ManifestError(f"{where} has no {key}")
        return None
    if not isinstance(value, str):
        raise ManifestError(f"{where}.{key} is {_kind(value)}, not a string")
    return value


def _kind(value: object) -> str:
    """The JSON type of a value, for a message ('a list', 'a number')."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _platform(value: object, where: str) -> Platform:
    if not isinstance(value, dict):
        raise ManifestError(f"{where}.platform is {_kind(value)}, not an object")
    os_ = _string(value, "os", f"{where}.platform") or ""
    arch = _string(value, "architecture", f"{where}.platform") or ""
    variant = _string(value, "variant", f"{where}.platform")
    return Platform(os_, arch, variant or None)


def _descriptor(d: object, where: str, *, with_platform: bool = False) -> Descriptor:
    """A descriptor (OCI descriptor.md): mediaType, digest and size, checked by type. Only
    an index entry has a platform (image-index.md); elsewhere the field is not read."""
    if not isinstance(d, dict):
        raise ManifestError(f"{where} is {_kind(d)}, not an object")
    media_type = _string(d, "mediaType", where) or ""
    digest = _string(d, "digest", where, required=True) or ""
    if not is_valid_digest(digest):
        raise ManifestError(f"{where}.digest {digest[:80]!r} is not a digest (algorithm:hex)")
    size = d.get("size", 0)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_SIZE:
        shown = f"{size!r:.40}" if isinstance(size, (int, float)) and not isinstance(size, bool) else _kind(size)
        raise ManifestError(f"{where}.size {shown} is not a size in bytes (a whole number from 0 to 2^63-1)")
    platform = _platform(d["platform"], where) if with_platform and d.get("platform") is not None else None
    return Descriptor(media_type=media_type, digest=digest, size=size, platform=platform)


def _descriptors(data: dict[str, Any], key: str, *, with_platform: bool = False) -> tuple[Descriptor, ...]:
    items = data.get(key)
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ManifestError(f"{key} is {_kind(items)}, not a list")
    return tuple(_descriptor(d, f"{key}[{n}]", with_platform=with_platform) for n, d in enumerate(items))


@dataclass(frozen=True)
class ParsedManifest:
    """A manifest or index, reduced to what pulling it needs."""

    media_type: str
    manifests: tuple[Descriptor, ...] = ()
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def is_schema1(self) -> bool:
        return self.media_type in SCHEMA1_TYPES

    def platforms(self) -> list[Platform]:
        return [d.platform for d in self.manifests if d.platform]


def parse_manifest(body: bytes | str, content_type: str | None = None) -> ParsedManifest:
    """Parse manifest bytes, or raise ManifestError; the body's own mediaType wins over the
    Content-Type header."""
    try:
        data = jsonbound.loads(body, max_bytes=MAX_MANIFEST_BYTES, what="manifest")
    except jsonbound.JSONBoundError as e:
        raise ManifestError(str(e)) from None
    if not isinstance(data, dict):
        raise ManifestError(f"manifest is {_kind(data)}, not a JSON object")
    header_type = content_type.split(";")[0].strip() if isinstance(content_type, str) else ""
    media_type = _string(data, "mediaType", "manifest") or header_type
    schema = data.get("schemaVersion")
    if not media_type:
        if schema == 1:
            media_type = DOCKER_SCHEMA1
        elif "manifests" in data:
            media_type = OCI_INDEX
        elif "layers" in data:
            media_type = OCI_MANIFEST
    if "manifests" in data:
        return ParsedManifest(media_type, manifests=_descriptors(data, "manifests", with_platform=True))
    if schema == 1:
        return ParsedManifest(media_type)
    config = data.get("config")
    return ParsedManifest(
        media_type,
        config=_descriptor(config, "config") if config is not None else None,
        layers=_descriptors(data, "layers"),
    )


@dataclass(frozen=True)
class ImageConfig:
    """What an image config says about its image: platform and the layers' uncompressed
    digests (rootfs.diff_ids), which `docker load` checks."""

    platform: Platform
    diff_ids: tuple[str, ...]


def parse_image_config(body: bytes | str) -> ImageConfig:
    """Parse an image config (OCI config.md / Docker image spec v1), or raise ManifestError."""
    try:
        data = jsonbound.loads(body, max_bytes=MAX_CONFIG_BYTES, what="image config")
    except jsonbound.JSONBoundError as e:
        raise ManifestError(str(e)) from None
    if not isinstance(data, dict):
        raise ManifestError(f"image config is {_kind(data)}, not a JSON object")
    os_ = _string(data, "os", "image config") or ""
    arch = _string(data, "architecture", "image config") or ""
    variant = _string(data, "variant", "image config")
    rootfs = data.get("rootfs")
    diff_ids: list[str] = []
    if rootfs is not None:
        if not isinstance(rootfs, dict):
            raise ManifestError(f"image config rootfs is {_kind(rootfs)}, not an object")
        ids = rootfs.get("diff_ids")
        if ids is not None:
            if not isinstance(ids, list):
                raise ManifestError(f"image config rootfs.diff_ids is {_kind(ids)}, not a list")
            for n, value in enumerate(ids):
                if not is_valid_digest(value):
                    raise ManifestError(f"image config rootfs.diff_ids[{n}] is not a digest")
                diff_ids.append(value)
    return ImageConfig(platform=Platform(os_, arch, variant or None), diff_ids=tuple(diff_ids))


def choose_platform(index: ParsedManifest, wanted: Platform) -> Descriptor | None:
    """The entry of an index a client on `wanted` would pull, as containerd's matcher picks it."""
    for descriptor in index.manifests:
        if descriptor.platform and descriptor.platform.matches(wanted):
            return descriptor
    return None
