"""Media types, manifests, indexes and platforms (Docker image spec and OCI image spec)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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


class ManifestError(ValueError):
    """A manifest that cannot be read; the message says which and why."""


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


def _descriptor(d: dict[str, Any]) -> Descriptor:
    platform = None
    if isinstance(d.get("platform"), dict):
        p = d["platform"]
        platform = Platform(p.get("os", ""), p.get("architecture", ""), p.get("variant"))
    return Descriptor(
        media_type=d.get("mediaType", ""), digest=d["digest"], size=int(d.get("size", 0)), platform=platform
    )


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
    """Parse manifest bytes; the body's own mediaType wins over the Content-Type header."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"manifest is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ManifestError("manifest is not a JSON object")
    media_type = data.get("mediaType") or (content_type or "").split(";")[0].strip()
    if not media_type:
        if data.get("schemaVersion") == 1:
            media_type = DOCKER_SCHEMA1
        elif "manifests" in data:
            media_type = OCI_INDEX
        elif "layers" in data:
            media_type = OCI_MANIFEST
    try:
        if "manifests" in data:
            return ParsedManifest(media_type, manifests=tuple(_descriptor(d) for d in data["manifests"]))
        if data.get("schemaVersion") == 1:
            return ParsedManifest(media_type)
        return ParsedManifest(
            media_type,
            config=_descriptor(data["config"]) if "config" in data else None,
            layers=tuple(_descriptor(d) for d in data.get("layers", [])),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestError(f"manifest of type {media_type or 'unknown'} is malformed: {e}") from e


def choose_platform(index: ParsedManifest, wanted: Platform) -> Descriptor | None:
    """The entry of an index a client on `wanted` would pull, as containerd's matcher picks it."""
    for descriptor in index.manifests:
        if descriptor.platform and descriptor.platform.matches(wanted):
            return descriptor
    return None
