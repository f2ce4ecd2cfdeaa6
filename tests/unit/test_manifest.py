import json

import pytest

from pulltrace.manifest import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    ManifestError,
    Platform,
    choose_platform,
    parse_manifest,
)

D = "sha256:" + "1" * 64


def _index(media_type):
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {"mediaType": DOCKER_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 1,
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": DOCKER_MANIFEST, "digest": "sha256:" + "b" * 64, "size": 1,
                 "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
                {"mediaType": DOCKER_MANIFEST, "digest": "sha256:" + "c" * 64, "size": 1,
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            ],
        }
    )


@pytest.mark.parametrize("media_type", [DOCKER_MANIFEST_LIST, OCI_INDEX])
def test_index_platform_choice(media_type):
    index = parse_manifest(_index(media_type))
    assert index.is_index
    assert [str(p) for p in index.platforms()] == ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"]
    assert choose_platform(index, Platform.parse("linux/arm64")).digest == "sha256:" + "c" * 64
    assert choose_platform(index, Platform.parse("linux/arm/v7")).digest == "sha256:" + "b" * 64
    assert choose_platform(index, Platform.parse("linux/arm/v6")) is None
    assert choose_platform(index, Platform.parse("windows/amd64")) is None


def test_image_manifest_config_and_layers():
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
         "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 3, "digest": D},
         "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 9, "digest": D}]}
    )
    m = parse_manifest(body)
    assert not m.is_index and m.config.size == 3 and len(m.layers) == 1


def test_oci_manifest_without_media_type_field_uses_content_type():
    body = json.dumps({"schemaVersion": 2, "config": {"digest": D, "size": 1}, "layers": []})
    assert parse_manifest(body, "application/vnd.oci.image.manifest.v1+json").media_type.endswith("manifest.v1+json")


def test_schema1_is_recognised():
    assert parse_manifest(json.dumps({"schemaVersion": 1, "fsLayers": []})).is_schema1


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"config": {"size": 1}}'])
def test_bad_manifest_raises(body):
    with pytest.raises(ManifestError):
        parse_manifest(body)


def test_platform_parse_errors_and_aliases():
    assert str(Platform.parse("linux/aarch64")) == "linux/arm64/v8"
    with pytest.raises(ValueError):
        Platform.parse("linux")
