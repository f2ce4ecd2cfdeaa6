"""The lab's images, built from scratch by code so their digests are the same everywhere.

Determinism: tar entries have fixed mtimes, owners and order; gzip has mtime 0 and no file
name; JSON is serialised with sorted keys and fixed separators; `created` is fixed. The
only exception is `library/busybox`, which holds this machine's `/bin/busybox`.

Tests and other modules name images through `catalog()` (or `<state>/images.json`),
never through hard-coded digests.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pulltrace.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)

CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # CREATED as a Unix time
BUSYBOX_PATH = Path("/bin/busybox")
PLATFORMS = (("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7"))
LARGE_LAYER_BYTES = 160 * 1024 * 1024
LARGE_LAYERS = 2
_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes = field(repr=False)
    digest: str = ""
    size: int = 0
    diff_id: str | None = None  # layers only: sha256 of the uncompressed tar

    @classmethod
    def of(cls, media_type: str, data: bytes, diff_id: str | None = None) -> Blob:
        return cls(media_type, data, digest_of(data), len(data), diff_id)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Entry:
    """One tar member: a regular file (`data`), a directory, or a symlink (`link`)."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    link: str | None = None
    is_dir: bool = False


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed layer tar with fixed metadata, parent directories added, sorted."""
    dirs: set[str] = set()
    for e in entries:
        parts = e.path.strip("/").split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    members = {d: Entry(d, is_dir=True, mode=0o755) for d in dirs}
    for e in entries:
        members[e.path.strip("/")] = e
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(members):
            e = members[path]
            info = tarfile.TarInfo(path + ("/" if e.is_dir else ""))
            info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "", ""
            info.mode = e.mode
            if e.is_dir:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, e.link
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def layer(entries: list[Entry], media_type: str = DOCKER_LAYER, level: int = 6) -> Blob:
    raw = layer_tar(entries)
    # mtime=0 and no file name: the gzip header is then the same on every run.
    return Blob.of(media_type, gzip.compress(raw, compresslevel=level, mtime=0), diff_id=digest_of(raw))


def text_files(prefix: str, count: int, lines: int = 40) -> list[Entry]:
    """Generated text: readable, different per image, identical on every build."""
    out = []
    for i in range(count):
        body = "".join(f"{prefix} file {i:02d} line {n:03d}: pulltrace lab test content\n" for n in range(lines))
        out.append(Entry(f"pulltrace/{prefix}/file-{i:02d}.txt", body.encode()))
    return out


def image_config(layers: list[Blob], arch: str = "amd64", variant: str | None = None,
                 media_type: str = DOCKER_CONFIG, cmd: list[str] | None = None, note: str = "") -> Blob:
    config: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": {"Env": [_PATH_ENV], "Cmd": cmd or ["/bin/sh"], "Labels": {"org.pulltrace.lab": note or "yes"}},
        "rootfs": {"type": "layers", "diff_ids": [blob.diff_id for blob in layers]},
        "history": [{"created": CREATED, "created_by": f"pulltrace lab: layer {i + 1} of {note}"}
                    for i in range(len(layers))],
    }
    if variant:
        config["variant"] = variant
    return Blob.of(media_type, canonical_json(config))


def image_manifest(config: Blob, layers: list[Blob], media_type: str = DOCKER_MANIFEST) -> Blob:
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [blob.descriptor() for blob in layers],
    }
    return Blob.of(media_type, canonical_json(manifest))


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def as_json(self) -> dict[str, str]:
        out = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            out["variant"] = self.variant
        return out


@dataclass(frozen=True)
class BuiltImage:
    """One repository's `latest`: its top manifest (maybe an index) and everything it needs."""

    repository: str
    manifest: Blob
    blobs: tuple[Blob, ...] = ()          # configs and layers, pushed first
    children: tuple[tuple[Platform, Blob, Blob, tuple[Blob, ...]], ...] = ()  # platform, manifest, config, layers
    config: Blob | None = None
    layers: tuple[Blob, ...] = ()
    tag: str = "latest"


def _single(repository: str, entries_per_layer: list[list[Entry]], cmd: list[str] | None = None) -> BuiltImage:
    layers = [layer(entries) for entries in entries_per_layer]
    config = image_config(layers, cmd=cmd, note=repository)
    return BuiltImage(
        repository, image_manifest(config, layers), (config, *layers), config=config, layers=tuple(layers)
    )


def _multi(repository: str, oci: bool) -> BuiltImage:
    children = []
    entries = []
    for os_, arch, variant in PLATFORMS:
        platform = Platform(os_, arch, variant)
        files = [Entry("etc/pulltrace-platform", f"{repository} {platform}\n".encode())]
        files += text_files(f"{repository.split('/')[-1]}-{arch}{variant or ''}", 3)
        lay = layer(files, OCI_LAYER_GZIP if oci else DOCKER_LAYER)
        config = image_config([lay], arch, variant, OCI_CONFIG if oci else DOCKER_CONFIG,
                              note=f"{repository} {platform}")
        manifest = image_manifest(config, [lay], OCI_MANIFEST if oci else DOCKER_MANIFEST)
        children.append((platform, manifest, config, (lay,)))
        entries.append(manifest.descriptor(platform=platform.as_json()))
    media_type = OCI_INDEX if oci else DOCKER_MANIFEST_LIST
    index = Blob.of(media_type, canonical_json({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}))
    blobs = tuple(b for _, _, config, layers in children for b in (config, *layers))
    return BuiltImage(repository, index, blobs, tuple(children))


def _busybox() -> BuiltImage:
    """Debian's static busybox with `/bin/sh` linking to it.

    Its digests depend on the busybox-static package version installed on this machine.
    """
    data = BUSYBOX_PATH.read_bytes()
    applets = ["sh", "ls", "cat", "echo", "sleep", "true", "false", "env", "sha256sum", "wget", "id", "uname"]
    entries = [Entry("bin/busybox", data, mode=0o755)]
    entries += [Entry(f"bin/{name}", link="busybox", mode=0o777) for name in applets]
    entries += [Entry("tmp", is_dir=True, mode=0o1777), Entry("etc", is_dir=True, mode=0o755)]
    return _single("library/busybox", [entries], cmd=["sh"])


def build_large() -> BuiltImage:
    """Incompressible deterministic bytes, gzip level 0 so building stays fast."""
    layers = []
    for i in range(LARGE_LAYERS):
        data = random.Random(f"pulltrace-lab-large-{i}").randbytes(LARGE_LAYER_BYTES)
        layers.append(layer([Entry(f"pulltrace/large/blob-{i}.bin", data)], level=0))
    config = image_config(layers, note="library/large")
    return BuiltImage("library/large", image_manifest(config, layers), (config, *layers), config=config,
                      layers=tuple(layers))


# library/slow (issue 13, pulltrace/lab/slow.py): random bytes, so gzip cannot hide the size, a
# little over a MiB per layer (the doctor only judges layers of 1 MiB or more); throttle.
# rate-limits layer SLOW_LAYER.
SLOW_REPOSITORY = "library/slow"
SLOW_LAYER_BYTES = (1280 * 1024, 1280 * 1024, 1280 * 1024)
SLOW_LAYER = 2  # 1-based, as reports number layers


@functools.cache
def build_slow() -> BuiltImage:
    """`library/slow:latest`: three layers of random bytes, the same on every build."""
    layers = []
    for i, size in enumerate(SLOW_LAYER_BYTES, 1):
        data = random.Random(f"pulltrace-lab-slow-{i}").randbytes(size)
        layers.append(layer([Entry(f"pulltrace/slow/layer-{i}.bin", data)], level=0))
    config = image_config(layers, note=SLOW_REPOSITORY)
    return BuiltImage(SLOW_REPOSITORY, image_manifest(config, layers), (config, *layers), config=config,
                      layers=tuple(layers))


_TINY_FILES = text_files("tiny", 10) + [Entry("hello.txt", b"hello from the pulltrace lab\n")]


@functools.cache
def build_small() -> tuple[BuiltImage, ...]:
    """Every image but `library/large`, in push order."""
    return (
        _single("library/tiny", [_TINY_FILES]),
        _single("library/tiny-plus", [_TINY_FILES, text_files("tiny-plus", 5)]),
        _single("library/three", [text_files("three-a", 4), text_files("three-b", 4), text_files("three-c", 4)]),
        _multi("library/multi", oci=False),
        _multi("library/multi-oci", oci=True),
        _single("team/app", [text_files("team-app", 5)]),
        _single("private/secret", [text_files("private-secret", 3)]),
        _busybox(),
        build_slow(),
    )


def build_all(large: bool = False) -> tuple[BuiltImage, ...]:
    return build_small() + ((build_large(),) if large else ())


# ---- the catalog: what tests and other modules read ----

@dataclass(frozen=True)
class LayerInfo:
    digest: str
    size: int
    media_type: str
    diff_id: str | None = None


@dataclass(frozen=True)
class ImageInfo:
    """One image as a client sees it: `digest` is the top manifest's (the index for multi-arch)."""

    repository: str
    tag: str
    media_type: str
    digest: str
    size: int
    config_digest: str | None = None
    config_size: int | None = None
    layers: tuple[LayerInfo, ...] = ()
    platforms: dict[str, ImageInfo] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def blob_digests(self) -> list[str]:
        """Config and layers; for an index, those of every platform."""
        if self.platforms:
            return [d for p in self.platforms.values() for d in p.blob_digests]
        return ([self.config_digest] if self.config_digest else []) + [info.digest for info in self.layers]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageInfo:
        return cls(
            repository=data["repository"], tag=data["tag"], media_type=data["media_type"],
            digest=data["digest"], size=data["size"], config_digest=data.get("config_digest"),
            config_size=data.get("config_size"),
            layers=tuple(LayerInfo(**layer_json) for layer_json in data.get("layers", [])),
            platforms={k: cls.from_json(v) for k, v in data.get("platforms", {}).items()},
        )


def _layer_infos(layers: tuple[Blob, ...]) -> tuple[LayerInfo, ...]:
    return tuple(LayerInfo(b.digest, b.size, b.media_type, b.diff_id) for b in layers)


def info_of(image: BuiltImage) -> ImageInfo:
    platforms = {
        str(platform): ImageInfo(image.repository, image.tag, manifest.media_type, manifest.digest, manifest.size,
                                 config.digest, config.size, _layer_infos(layers))
        for platform, manifest, config, layers in image.children
    }
    return ImageInfo(
        image.repository, image.tag, image.manifest.media_type, image.manifest.digest, image.manifest.size,
        image.config.digest if image.config else None, image.config.size if image.config else None,
        _layer_infos(image.layers), platforms,
    )


def catalog(large: bool = False) -> dict[str, ImageInfo]:
    """Per repository (`library/tiny`), its digests and sizes, computed by building the images."""
    return {image.repository: info_of(image) for image in build_all(large)}


def catalog_json(images: dict[str, ImageInfo]) -> str:
    return json.dumps({name: info.to_json() for name, info in images.items()}, indent=2, sort_keys=True) + "\n"


def load_catalog(path: Path) -> dict[str, ImageInfo]:
    """Read `<state>/images.json` as `lab up` wrote it."""
    data = json.loads(path.read_text())
    return {name: ImageInfo.from_json(value) for name, value in data.items()}
