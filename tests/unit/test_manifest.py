import json

import pytest

from pulltrace.manifest import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    ManifestError,
    Platform,
    choose_platform,
    is_valid_digest,
    parse_image_config,
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


def _d(text):
    return text.replace("DIGEST", D)


def _entry(**fields):
    entry = {"mediaType": DOCKER_MANIFEST, "digest": D, "size": 7}
    entry.update(fields)
    return entry


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"manifests": [5]}', r"manifests\[0\] is a number, not an object"),
        (_d('{"manifests": [{"digest": "DIGEST", "size": 1e999}]}'), r"manifests\[0\].size inf is not a size"),
        (_d('{"manifests": [{"digest": "DIGEST", "size": -1}]}'), r"manifests\[0\].size -1 is not a size"),
        (_d('{"manifests": [{"digest": "DIGEST", "size": true}]}'), r"manifests\[0\].size a boolean is not"),
        (_d('{"manifests": [{"digest": "DIGEST", "size": "9"}]}'), r"manifests\[0\].size a string is not a size"),
        (_d('{"manifests": [{"digest": "DIGEST", "mediaType": ["a"]}]}'), r"manifests\[0\].mediaType is a list"),
        ('{"manifests": [{"digest": 12}]}', r"manifests\[0\].digest is a number, not a string"),
        ('{"manifests": [{"digest": "sha256:../../etc/passwd"}]}', r"is not a digest"),
        ('{"manifests": [{"digest": "sha256:abc"}]}', r"is not a digest"),
        ('{"manifests": [{"size": 1}]}', r"manifests\[0\] has no digest"),
        ('{"manifests": {"a": 1}}', r"manifests is an object, not a list"),
        (_d('{"manifests": [{"digest": "DIGEST", "platform": "linux"}]}'), r"platform is a string, not an object"),
        ('{"mediaType": 5, "layers": []}', r"manifest.mediaType is a number"),
        ('{"config": [], "layers": []}', r"config is a list, not an object"),
        ('{"layers": [null]}', r"layers\[0\] is null, not an object"),
        ("[" * 1200 + "]" * 1200, r"manifest is nested deeper than 64 levels"),
        (b'{"mediaType": "\xff"}', r"manifest is not valid UTF-8: byte 0xff at offset 15"),
        ('{"size": NaN}', r"manifest holds NaN"),
    ],
)
def test_malformed_manifests_name_the_field(body, message):
    with pytest.raises(ManifestError, match=message) as e:
        parse_manifest(body)
    assert "\n" not in str(e.value)


def test_manifest_bodies_in_other_encodings():
    body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": _entry(), "layers": [_entry()]})
    for raw in (body.encode("utf-8-sig"), body.encode("utf-16"), body.encode("utf-16-le"), body.encode("utf-32")):
        m = parse_manifest(raw)
        assert (m.media_type, m.config.digest, m.layers[0].size) == (DOCKER_MANIFEST, D, 7)


def test_manifest_over_4_mib_is_refused():
    with pytest.raises(ManifestError, match="larger than 4194304 bytes"):
        parse_manifest(b" " * (4 * 1024 * 1024 + 1))


def test_digest_grammar():
    assert is_valid_digest(D) and is_valid_digest("sha512:" + "a" * 128)
    assert is_valid_digest("blake3+b64:" + "A" * 43)  # an unregistered algorithm: the grammar only
    for bad in ("sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 64, "sha256", ":abc", 5, None):
        assert not is_valid_digest(bad)


def test_image_config():
    config = parse_image_config(json.dumps(
        {"os": "linux", "architecture": "arm", "variant": "v7", "rootfs": {"type": "layers", "diff_ids": [D]}}
    ))
    assert (str(config.platform), config.diff_ids) == ("linux/arm/v7", (D,))
    assert parse_image_config("{}").diff_ids == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[]", "image config is a list, not a JSON object"),
        ('{"os": 1}', "image config.os is a number"),
        ('{"rootfs": []}', "rootfs is a list"),
        ('{"rootfs": {"diff_ids": "x"}}', "diff_ids is a string, not a list"),
        ('{"rootfs": {"diff_ids": ["sha256:x"]}}', r"diff_ids\[0\] is not a digest"),
    ],
)
def test_bad_image_configs(body, message):
    with pytest.raises(ManifestError, match=message):
        parse_image_config(body)


def test_a_platform_outside_an_index_entry_is_not_read():
    body = json.dumps({"layers": [_entry(platform=True)], "config": _entry(platform="linux")})
    m = parse_manifest(body)
    assert (m.layers[0].platform, m.config.platform) == (None, None)
