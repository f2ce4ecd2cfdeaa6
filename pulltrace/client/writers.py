"""Writing a pulled image: a `docker load` archive or an OCI image layout.

Both are assembled from the verified blob cache and appear atomically: a temp file (or
directory) beside the target, renamed into place only when complete, removed on any failure
or Ctrl-C. Blobs found in the cache (not fetched in this run) are re-hashed as they are copied, so a
cache damaged on disk cannot slip into an output. Tar members get mtime 0, so the same image
always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pulltrace.client.cache import BlobCache, digest_hex
from pulltrace.client.digests import is_sha256
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
    except (ValueError, KeyError, TypeError, RecursionError):
        diff_ids = []
    if not isinstance(diff_ids, list) or not all(is_sha256(d) for d in diff_ids):
        diff_ids = []  # not an image config (an artifact's): the config digest stands in
    top = chain_ids(diff_ids)[-1] if diff_ids else parts.config.digest
    return {_familiar_name(ref): {ref.tag: digest_hex(top)}}


def _familiar_name(ref: ImageReference) -> str:
    return ref.familiar.split("@")[0].rsplit(":", 1)[0] if ref.tag else ref.familiar.split("@")[0]


# -- tar writing ---------------------------------------------------------------------------
class TarWriter:
    """A minimal tar writer whose member data is copied by the kernel (copy_file_range).

    tarfile pushes every byte through Python in 16 KiB reads; for a 300 MiB image that copy
    costs more than the download. Headers come from `TarInfo.tobuf` (PAX), so the archive
    is what tarfile itself would write.
    """

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def _header(self, info: tarfile.TarInfo) -> None:
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self.out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _pad(self, size: int) -> None:
        remainder = size % tarfile.BLOCKSIZE
        if remainder:
            self.out.write(b"\0" * (tarfile.BLOCKSIZE - remainder))

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        self._header(info)
        self.out.write(data)
        self._pad(len(data))

    def add_dir(self, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        self._header(info)

    def add_file(self, name: str, source: Path, verify_digest: str | None = None) -> None:
        """Copy `source` in; with `verify_digest`, hash it on the way and raise if it differs."""
        size = source.stat().st_size
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o644
        self._header(info)
        with open(source, "rb") as src:
            if verify_digest is None:
                _kernel_copy(src, self.out, size)
            else:
                hasher = hashlib.sha256()
                while chunk := src.read(1 << 20):
                    hasher.update(chunk)
                    self.out.write(chunk)
                if "sha256:" + hasher.hexdigest() != verify_digest:
                    raise _Damaged(verify_digest)
        self._pad(size)

    def close(self) -> None:
        self.out.write(b"\0" * (2 * tarfile.BLOCKSIZE))
        self.out.flush()


class _Damaged(Exception):
    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self.digest = digest


def _kernel_copy(src: BinaryIO, dst: BinaryIO, size: int) -> None:
    dst.flush()
    out_fd, in_fd = dst.fileno(), src.fileno()
    left = size
    try:
        while left:
            n = os.copy_file_range(in_fd, out_fd, left)
            if n == 0:
                break
            left -= n
    except OSError:
        pass  # a filesystem without copy_file_range: copy the rest in user space
    if left:
        src.seek(size - left)
        while left and (chunk := src.read(min(left, 1 << 20))):
            dst.write(chunk)
            left -= len(chunk)
    if left:
        raise OSError(f"short copy: {left} bytes of {src.name} missing")


def _add_blob(tar: TarWriter, name: str, cache: BlobCache, digest: str, verified: frozenset[str]) -> None:
    """A blob from the cache. Blobs hashed while downloading in this run go in by kernel copy;
    ones found in the cache are re-hashed, so a cache damaged on disk cannot reach an output."""
    try:
        tar.add_file(name, cache.path(digest), None if digest in verified else digest)
    except _Damaged:
        cache.evict(digest)
        raise DigestMismatch(f"cached blob {digest} is damaged on disk; it was removed — pull again") from None


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
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=parent)
    # mkstemp makes 0600; the finished file gets what the user's umask gives any new file.
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(name)


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
def write_docker_archive(parts: ImageParts, cache: BlobCache, target: Path,
                         verified: frozenset[str] = frozenset()) -> None:
    """A tar `docker load` reads: manifest.json, repositories, `<config hex>.json`, layers."""
    config_bytes = cache.path(parts.config.digest).read_bytes()
    tmp = _temp_beside(target)
    try:
        with open(tmp, "wb") as f:
            tar = TarWriter(f)
            _add_blob(tar, f"{digest_hex(parts.config.digest)}.json", cache, parts.config.digest, verified)
            seen: set[str] = set()
            for layer in parts.layers:
                if layer.digest in seen:
                    continue
                seen.add(layer.digest)
                _add_blob(tar, layer_member_name(layer), cache, layer.digest, verified)
            tar.add_bytes("manifest.json", _json(docker_manifest_json(parts)))
            tar.add_bytes("repositories", _json(docker_repositories_json(parts, config_bytes)))
            tar.close()
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


def write_oci_archive(parts: ImageParts, cache: BlobCache, target: Path,
                      verified: frozenset[str] = frozenset()) -> None:
    """An OCI image layout packed in a tar (skopeo's `oci-archive:`)."""
    tmp = _temp_beside(target)
    try:
        with open(tmp, "wb") as f:
            tar = TarWriter(f)
            tar.add_bytes("oci-layout", _json(OCI_LAYOUT))
            tar.add_bytes("index.json", _json(oci_index(parts)))
            for name in ("blobs", "blobs/sha256"):
                tar.add_dir(name)
            body, digest, _ = oci_manifest(parts)
            tar.add_bytes(f"blobs/sha256/{digest_hex(digest)}", body)
            for digest in _blob_digests(parts):
                _add_blob(tar, f"blobs/sha256/{digest_hex(digest)}", cache, digest, verified)
            tar.close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_oci_dir(parts: ImageParts, cache: BlobCache, target: Path,
                  verified: frozenset[str] = frozenset()) -> None:
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
            _place_blob(cache, digest, blobs / digest_hex(digest), digest in verified)
        (tmp / "index.json").write_bytes(_json(oci_index(parts)))
        if target.exists():
            target.rmdir()  # check_output allowed only an empty directory
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _place_blob(cache: BlobCache, digest: str, dest: Path, verified: bool) -> None:
    source = cache.path(digest)
    if not verified:
        hasher = hashlib.sha256()
        with open(source, "rb") as src:
            while chunk := src.read(1 << 20):
                hasher.update(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            cache.evict(digest)
            raise DigestMismatch(f"cached blob {digest} is damaged on disk; it was removed — pull again")
    try:
        os.link(source, dest)  # blobs are immutable: a second name costs nothing
    except OSError:
        shutil.copyfile(source, dest)


def write_image(fmt: str, parts: ImageParts, cache: BlobCache, target: Path,
                verified: frozenset[str] = frozenset()) -> None:
    """Write `parts` as `fmt`; `verified` names blobs hashed on the way in during this run."""
    if fmt == "docker-archive":
        write_docker_archive(parts, cache, target, verified)
    elif fmt == "oci":
        write_oci_dir(parts, cache, target, verified)
    elif fmt == "oci-archive":
        write_oci_archive(parts, cache, target, verified)
    else:
        raise OutputError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
