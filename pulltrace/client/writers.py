"""Writing a pulled image: a `docker load` archive or an OCI image layout.

Both are assembled from the verified blob cache and appear atomically: a temp file (or
directory) beside the target, renamed into place only when complete, removed on any failure
or Ctrl-C. Blobs are re-hashed as they are copied, so a cache damaged on disk cannot slip
into an output. Tar members get mtime 0, so the same image always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pulltrace.client.cache import BlobCache, digest_hex
from pulltrace.client.errors import DigestMismatch, PullError
from pulltrace.manifest import (
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    Platform,
)
from pulltrace.reference import ImageReference

FORMATS = ("docker-archive", "oci", "oci-archive")
OCI_LAYOUT = {"imageLayoutVersion": "1.0.0"}
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"


class OutputError(PullError):
    """The output path cannot be written."""


@dataclass(frozen=True)
class ImageParts:
    """Everything a writer needs: the chosen manifest's bytes and what it names."""

    reference: ImageReference
    manifest_bytes: bytes
    manifest_digest: str
    manifest_media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    platform: Platform | None = None


def layer_member_name(layer: Descriptor) -> str:
    """`<hex>.tar`, `.tar.gz` or `.tar.zst` as the blob is stored (docker load decompresses)."""
    suffix = ".tar"
    if layer.media_type.endswith("gzip"):
        suffix = ".tar.gz"
    elif layer.media_type.endswith("zstd"):
        suffix = ".tar.zst"
    return digest_hex(layer.digest) + suffix


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Layer ChainIDs from the config's diff_ids (image-spec config.md)."""
    out: list[str] = []
    for diff in diff_ids:
        if not out:
            out.append(diff)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def docker_manifest_json(parts: ImageParts) -> list[dict]:
    ref = parts.reference
    tags = [f"{_familiar_name(ref)}:{ref.tag}"] if ref.tag else []
    return [{
        "Config": f"{digest_hex(parts.config.digest)}.json",
        "RepoTags": tags,
        "Layers": [layer_member_name(layer) for layer in parts.layers],
    }]


def docker_repositories_json(parts: ImageParts, config_bytes: bytes) -> dict:
    """The legacy `repositories` file: tag → the top layer's ChainID (read by old loaders)."""
    ref = parts.reference
    if not ref.tag:
        return {}
    try:
        diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        diff_ids = []
    top = chain_ids(diff_ids)[-1] if diff_ids else parts.config.digest
    return {_familiar_name(ref): {ref.tag: digest_hex(top)}}


def _familiar_name(ref: ImageReference) -> str:
    return ref.familiar.split("@")[0].rsplit(":", 1)[0] if ref.tag else ref.familiar.split("@")[0]


# -- verified copying ----------------------------------------------------------------------
class _HashingReader:
    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.hasher = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.hasher.update(data)
        return data


def _add_blob(tar: tarfile.TarFile, name: str, cache: BlobCache, digest: str) -> None:
    path = cache.path(digest)
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o644
    with open(path, "rb") as f:
        reader = _HashingReader(f)
        tar.addfile(info, reader)  # type: ignore[arg-type]
    if "sha256:" + reader.hasher.hexdigest() != digest:
        cache.evict(digest)
        raise DigestMismatch(f"cached blob {digest} is damaged on disk; it was removed — pull again")


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_beside(target: Path, directory: bool = False) -> Path:
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: directory {parent} does not exist")
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=parent))
        tmp.chmod(0o777 & ~_umask())
        return tmp
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=parent)
    # mkstemp makes 0600; the finished file gets what the user's umask gives any new file.
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(tmp)


def check_output(target: Path, fmt: str) -> None:
    """Fail before any download when the output cannot be written where asked."""
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {target}: directory {parent} is not writable")
    if fmt == "oci":
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise OutputError(f"{target} already exists and is not an empty directory; choose another -o")
    elif target.is_dir():
        raise OutputError(f"{target} is a directory; give a file name with -o (or --format oci)")


# -- docker load archive -------------------------------------------------------------------
def write_docker_archive(parts: ImageParts, cache: BlobCache, target: Path) -> None:
    """A tar `docker load` reads: manifest.json, repositories, `<config hex>.json`, layers."""
    config_bytes = cache.path(parts.config.digest).read_bytes()
    tmp = _temp_beside(target)
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_blob(tar, f"{digest_hex(parts.config.digest)}.json", cache, parts.config.digest)
            seen: set[str] = set()
            for layer in parts.layers:
                if layer.digest in seen:
                    continue
                seen.add(layer.digest)
                _add_blob(tar, layer_member_name(layer), cache, layer.digest)
            _add_bytes(tar, "manifest.json", _json(docker_manifest_json(parts)))
            _add_bytes(tar, "repositories", _json(docker_repositories_json(parts, config_bytes)))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# -- OCI image layout ----------------------------------------------------------------------
OCI_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
_OCI_TYPE_OF = {
    DOCKER_CONFIG: OCI_CONFIG,
    DOCKER_LAYER: OCI_LAYER_GZIP,
    DOCKER_FOREIGN_LAYER: OCI_NONDISTRIBUTABLE_GZIP,
}


def oci_manifest(parts: ImageParts) -> tuple[bytes, str, str]:
    """(bytes, digest, media type) of the manifest to store in an OCI layout.

    An OCI manifest is kept byte for byte. A Docker schema2 manifest is converted, as skopeo
    converts it: skopeo 1.9 and containerd look only for OCI media types in index.json, so
    the layout gets a new manifest (and digest) over the very same config and layer blobs.
    """
    if parts.manifest_media_type != DOCKER_MANIFEST:
        return parts.manifest_bytes, parts.manifest_digest, parts.manifest_media_type

    def descriptor(d: Descriptor) -> dict:
        return {"mediaType": _OCI_TYPE_OF.get(d.media_type, d.media_type), "digest": d.digest, "size": d.size}

    body = _json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(parts.config),
                  "layers": [descriptor(layer) for layer in parts.layers]})
    return body, "sha256:" + hashlib.sha256(body).hexdigest(), OCI_MANIFEST


def oci_index(parts: ImageParts) -> dict:
    annotations = {CONTAINERD_NAME_ANNOTATION: str(parts.reference)}
    if parts.reference.tag:
        annotations[REF_NAME_ANNOTATION] = parts.reference.tag
    body, digest, media_type = oci_manifest(parts)
    descriptor: dict = {"mediaType": media_type, "digest": digest, "size": len(body),
                        "annotations": annotations}
    if parts.platform:
        descriptor["platform"] = {"architecture": parts.platform.architecture, "os": parts.platform.os}
        if parts.platform.variant:
            descriptor["platform"]["variant"] = parts.platform.variant
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}


def _blob_digests(parts: ImageParts) -> list[str]:
    return list(dict.fromkeys([parts.config.digest] + [layer.digest for layer in parts.layers]))


def write_oci_archive(parts: ImageParts, cache: BlobCache, target: Path) -> None:
    """An OCI image layout packed in a tar (skopeo's `oci-archive:`)."""
    tmp = _temp_beside(target)
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, "oci-layout", _json(OCI_LAYOUT))
            _add_bytes(tar, "index.json", _json(oci_index(parts)))
            for name in ("blobs", "blobs/sha256"):
                _add_dir(tar, name)
            body, digest, _ = oci_manifest(parts)
            _add_bytes(tar, f"blobs/sha256/{digest_hex(digest)}", body)
            for digest in _blob_digests(parts):
                _add_blob(tar, f"blobs/sha256/{digest_hex(digest)}", cache, digest)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_oci_dir(parts: ImageParts, cache: BlobCache, target: Path) -> None:
    """An OCI image layout directory (skopeo's `oci:`). Blobs are hard-linked from the cache
    when it is on the same filesystem (they are immutable), else copied and re-verified."""
    tmp = _temp_beside(target, directory=True)
    try:
        blobs = tmp / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        (tmp / "oci-layout").write_bytes(_json(OCI_LAYOUT))
        body, digest, _ = oci_manifest(parts)
        (blobs / digest_hex(digest)).write_bytes(body)
        for digest in _blob_digests(parts):
            _place_blob(cache, digest, blobs / digest_hex(digest))
        (tmp / "index.json").write_bytes(_json(oci_index(parts)))
        if target.exists():
            target.rmdir()  # check_output allowed only an empty directory
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _place_blob(cache: BlobCache, digest: str, dest: Path) -> None:
    source = cache.path(digest)
    try:
        os.link(source, dest)
        return
    except OSError:
        pass
    hasher = hashlib.sha256()
    with open(source, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(1024 * 1024):
            hasher.update(chunk)
            out.write(chunk)
    if "sha256:" + hasher.hexdigest() != digest:
        cache.evict(digest)
        raise DigestMismatch(f"cached blob {digest} is damaged on disk; it was removed — pull again")


def write_image(fmt: str, parts: ImageParts, cache: BlobCache, target: Path) -> None:
    if fmt == "docker-archive":
        write_docker_archive(parts, cache, target)
    elif fmt == "oci":
        write_oci_dir(parts, cache, target)
    elif fmt == "oci-archive":
        write_oci_archive(parts, cache, target)
    else:
        raise OutputError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
