"""The docker-archive and OCI layout writers, over a cache filled with a real tiny image."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from pulltrace.client.cache import BlobCache
from pulltrace.client.errors import DigestMismatch
from pulltrace.client.writers import (
    ImageParts,
    OutputError,
    chain_ids,
    check_output,
    write_docker_archive,
    write_oci_archive,
    write_oci_dir,
)
from pulltrace.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    Platform,
)
from pulltrace.reference import parse_reference


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(name: str, content: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


@pytest.fixture
def image(tmp_path: Path):
    cache = BlobCache(tmp_path / "cache")
    layers_raw = [layer_tar("hello", b"hello\n"), layer_tar("world", b"world\n")]
    layers = [gzip.compress(raw, mtime=0) for raw in layers_raw]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(r) for r in layers_raw]}}).encode()
    for blob in [config, *layers]:
        cache.path(sha(blob)).write_bytes(blob)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                           "config": {"mediaType": DOCKER_CONFIG, "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": DOCKER_LAYER, "digest": sha(b), "size": len(b)}
                                      for b in layers]}).encode()
    parts = ImageParts(
        reference=parse_reference("hub.pulltrace.test/library/tiny:1.0"),
        manifest_bytes=manifest, manifest_digest=sha(manifest), manifest_media_type=DOCKER_MANIFEST,
        config=Descriptor(DOCKER_CONFIG, sha(config), len(config)),
        layers=tuple(Descriptor(DOCKER_LAYER, sha(b), len(b)) for b in layers),
        platform=Platform("linux", "amd64"),
    )
    return parts, cache, config, layers, layers_raw


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()}


def test_docker_archive_has_what_docker_load_reads(image, tmp_path):
    parts, cache, config, layers, layers_raw = image
    out = tmp_path / "tiny.tar"
    write_docker_archive(parts, cache, out)
    files = members(out)
    config_name = f"{sha(config)[7:]}.json"
    layer_names = [f"{sha(b)[7:]}.tar.gz" for b in layers]
    assert set(files) == {config_name, *layer_names, "manifest.json", "repositories"}
    assert files[config_name] == config
    assert [gzip.decompress(files[n]) for n in layer_names] == layers_raw
    assert json.loads(files["manifest.json"]) == [
        {"Config": config_name, "RepoTags": ["hub.pulltrace.test/library/tiny:1.0"], "Layers": layer_names}]
    top = chain_ids([sha(r) for r in layers_raw])[-1]
    assert json.loads(files["repositories"]) == {"hub.pulltrace.test/library/tiny": {"1.0": top[7:]}}
    # Deterministic: the same image gives the same bytes.
    again = tmp_path / "again.tar"
    write_docker_archive(parts, cache, again)
    assert again.read_bytes() == out.read_bytes()
    # Blobs hashed while downloading go in by kernel copy: the very same bytes.
    fresh = tmp_path / "fresh.tar"
    write_docker_archive(parts, cache, fresh, frozenset([sha(config), *map(sha, layers)]))
    assert fresh.read_bytes() == out.read_bytes()
    with tarfile.open(out) as tar:  # and tarfile reads it member by member
        assert [m.name for m in tar.getmembers()][-2:] == ["manifest.json", "repositories"]
    assert not list(tmp_path.glob(".*.part"))


def test_docker_hub_names_are_familiar_in_repo_tags(image, tmp_path):
    parts, cache, *_ = image
    from dataclasses import replace

    hub = replace(parts, reference=parse_reference("alpine"))
    write_docker_archive(hub, cache, tmp_path / "a.tar")
    assert json.loads(members(tmp_path / "a.tar")["manifest.json"])[0]["RepoTags"] == ["alpine:latest"]


def test_chain_ids_follow_the_image_spec():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


def test_a_damaged_cached_blob_leaves_no_output_and_is_evicted(image, tmp_path):
    parts, cache, config, layers, _ = image
    damaged = cache.path(sha(layers[1]))
    data = bytearray(damaged.read_bytes())
    data[20] ^= 0xFF
    damaged.write_bytes(bytes(data))
    out = tmp_path / "tiny.tar"
    with pytest.raises(DigestMismatch, match="damaged on disk"):
        write_docker_archive(parts, cache, out)
    assert not out.exists()
    assert not list(tmp_path.glob(".tiny.tar.*"))
    assert not damaged.exists()


def test_oci_layout_directory_and_archive(image, tmp_path):
    parts, cache, config, layers, _ = image
    out = tmp_path / "tiny-oci"
    write_oci_dir(parts, cache, out)
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((out / "index.json").read_text())
    [desc] = index["manifests"]
    # A Docker manifest is converted to OCI (as skopeo does); config and layers stay as they are.
    assert desc["mediaType"] == OCI_MANIFEST
    stored = (out / "blobs" / "sha256" / desc["digest"][7:]).read_bytes()
    assert sha(stored) == desc["digest"] and len(stored) == desc["size"]
    converted = json.loads(stored)
    assert converted["config"] == {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)}
    assert [layer["mediaType"] for layer in converted["layers"]] == [OCI_LAYER_GZIP] * 2
    assert [layer["digest"] for layer in converted["layers"]] == [sha(b) for b in layers]
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == "1.0"
    assert desc["platform"] == {"architecture": "amd64", "os": "linux"}
    blobs = {p.name for p in (out / "blobs" / "sha256").iterdir()}
    assert blobs == {d[7:] for d in [desc["digest"], sha(config), *map(sha, layers)]}
    for p in (out / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name

    archive = tmp_path / "tiny-oci.tar"
    write_oci_archive(parts, cache, archive)
    files = members(archive)
    assert json.loads(files["index.json"]) == index
    assert files[f"blobs/sha256/{desc['digest'][7:]}"] == stored


def test_an_oci_manifest_is_kept_byte_for_byte(image, tmp_path):
    from dataclasses import replace

    parts, cache, *_ = image
    oci_bytes = parts.manifest_bytes.replace(DOCKER_MANIFEST.encode(), OCI_MANIFEST.encode())
    oci = replace(parts, manifest_bytes=oci_bytes, manifest_digest=sha(oci_bytes), manifest_media_type=OCI_MANIFEST)
    write_oci_dir(oci, cache, tmp_path / "o")
    [desc] = json.loads((tmp_path / "o" / "index.json").read_text())["manifests"]
    assert desc["digest"] == sha(oci_bytes)


def test_check_output_refuses_before_any_download(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "missing" / "x.tar", "docker-archive")
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path, "docker-archive")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(OutputError, match="not an empty directory"):
        check_output(tmp_path / "full", "oci")
    check_output(tmp_path / "new.tar", "docker-archive")
