from __future__ import annotations

import gzip
import io
import json
import tarfile

from pulltrace.lab import images
from pulltrace.manifest import DOCKER_MANIFEST_LIST, OCI_INDEX, parse_manifest


def _fresh() -> dict[str, images.ImageInfo]:
    images.build_small.cache_clear()
    return images.catalog()


def test_builds_are_deterministic():
    assert _fresh() == _fresh()


def test_known_digest_of_tiny_is_stable():
    # If this changes, every recorded trace naming library/tiny changes with it: do it on purpose.
    assert images.catalog()["library/tiny"].digest == (
        "sha256:90d462bb2c554f1f54bc142b980ea98a129eb31d9696e73985bf57c5a2c7cc35"
    )


def test_config_diff_ids_are_the_uncompressed_layer_digests():
    for image in images.build_small():
        for _, manifest, config, layers in image.children or ((None, image.manifest, image.config, image.layers),):
            cfg = json.loads(config.data)
            assert cfg["rootfs"]["diff_ids"] == [images.digest_of(gzip.decompress(layer.data)) for layer in layers]
            assert len(cfg["history"]) == len(layers)
            parsed = parse_manifest(manifest.data)
            assert parsed.config.digest == config.digest
            assert [d.digest for d in parsed.layers] == [layer.digest for layer in layers]


def test_tiny_plus_shares_tinys_layer():
    c = images.catalog()
    assert c["library/tiny-plus"].layers[0] == c["library/tiny"].layers[0]
    assert len(c["library/tiny-plus"].layers) == 2


def test_indexes_have_three_distinct_platforms():
    c = images.catalog()
    assert c["library/multi"].media_type == DOCKER_MANIFEST_LIST
    assert c["library/multi-oci"].media_type == OCI_INDEX
    for name in ("library/multi", "library/multi-oci"):
        platforms = c[name].platforms
        assert set(platforms) == {"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}
        assert len({p.digest for p in platforms.values()}) == 3


def test_layer_tar_has_fixed_metadata():
    blob = images.layer([images.Entry("a/b.txt", b"x"), images.Entry("a/link", link="b.txt")])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.data))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["a", "a/b.txt", "a/link"]
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(images.MTIME, 0, 0, "")}
    assert blob.data[4:8] == b"\0\0\0\0"  # gzip mtime


def test_busybox_has_sh_linking_to_busybox():
    image = next(i for i in images.build_small() if i.repository == "library/busybox")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(image.layers[0].data))) as tar:
        sh = tar.getmember("bin/sh")
    assert sh.issym() and sh.linkname == "busybox"


def test_catalog_round_trips_through_json(tmp_path):
    c = images.catalog()
    path = tmp_path / "images.json"
    path.write_text(images.catalog_json(c))
    assert images.load_catalog(path) == c
