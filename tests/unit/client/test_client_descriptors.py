"""A manifest's descriptors are checked before any of them is used."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulltrace.client.descriptors import check_manifest
from pulltrace.client.errors import ManifestInvalid
from pulltrace.manifest import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, parse_manifest

D = "sha256:" + "a" * 64


def manifest(**layer: object) -> dict:
    return {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": D, "size": 10},
            "layers": [{"mediaType": DOCKER_LAYER, "digest": D, "size": 20, **layer}]}


def test_valid_manifests_and_indexes_pass():
    check_manifest(json.dumps(manifest()).encode(), "m")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": D, "size": 5, "platform": {"os": "linux", "architecture": "arm64",
                                                                           "variant": "v8"}}]}
    check_manifest(json.dumps(index).encode(), "m")
    check_manifest(b'{"schemaVersion": 1, "fsLayers": "whatever"}', "m")  # schema1: refused by name later


@pytest.mark.parametrize("body,message", [
    (json.dumps(manifest(size=-1)), "layer 1 of m has an invalid size -1 (a byte count is required)"),
    (json.dumps(manifest(size=2**63)), f"layer 1 of m has an invalid size {2**63} (a byte count is required)"),
    (json.dumps(manifest(size=1.0)), "layer 1 of m has an invalid size 1.0"),
    (json.dumps(manifest(size=None)), "layer 1 of m has an invalid size None"),
    (json.dumps(manifest(size=False)), "layer 1 of m has an invalid size False"),
    (json.dumps(manifest(size=0)).replace('"size": 0', '"size": 1e999'), "layer 1 of m has an invalid size inf"),
    (json.dumps(manifest(mediaType={"a": 1})), "layer 1 of m has a mediaType that is not a string ({'a': 1})"),
    (json.dumps(manifest(digest="sha256:" + "a" * 64 + "/x")), "layer 1 of m has a malformed digest"),
    (json.dumps({**manifest(), "config": "x"}), "the config of m is not a descriptor object ('x')"),
    (json.dumps({**manifest(), "layers": None}), "m: `layers` is not a list (None)"),
    (json.dumps({**manifest(), "mediaType": 7}), "m has a mediaType that is not a string (7)"),
    (json.dumps({"manifests": [7]}), "entry 1 of m is not a descriptor object (7)"),
    (json.dumps({"manifests": {}}), "m: `manifests` is not a list ({})"),
    (json.dumps({"manifests": [{"digest": D, "size": 1, "platform": {"os": ["linux"]}}]}),
     "entry 1 of m has a platform os that is not a string (['linux'])"),
    ("[1]", "m is JSON but not an object; refusing it"),
    ("{", "m is not JSON ("),
    (b"\xff\xfe", "m is not JSON ("),
    ("[" * 100_000 + "]" * 100_000, "m is JSON nested too deeply; refusing it"),
    ('{"layers": [' + "[" * 5000 + "]" * 5000 + "]}", "m is JSON nested too deeply; refusing it"),
])
def test_malformed_descriptors_are_one_line_errors(body, message):
    with pytest.raises(ManifestInvalid) as e:
        check_manifest(body if isinstance(body, bytes) else body.encode(), "m")
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


# Each field drawn from valid and invalid values alike, so that many examples pass the check.
ODD = st.sampled_from([None, True, 1.5, -1, 2**64, "", "x", [], {}, ["a"], {"a": 1}])
DIGESTS = st.sampled_from([D, "sha256:../x", "sha512:" + "b" * 128, "SHA256:" + "a" * 64]) | ODD
SIZES = st.integers(min_value=-2, max_value=2**64) | ODD
TYPES = st.sampled_from([DOCKER_LAYER, OCI_MANIFEST, ""]) | ODD
PLATFORMS = st.fixed_dictionaries({}, optional={"os": st.sampled_from(["linux"]) | ODD,
                                                "architecture": st.sampled_from(["arm64"]) | ODD}) | ODD
DESCRIPTORS = st.fixed_dictionaries({}, optional={"mediaType": TYPES, "digest": DIGESTS, "size": SIZES,
                                                  "platform": PLATFORMS}) | ODD
MANIFESTS = st.fixed_dictionaries({}, optional={
    "mediaType": TYPES, "schemaVersion": st.sampled_from([1, 2]) | ODD, "config": DESCRIPTORS,
    "layers": st.lists(DESCRIPTORS, max_size=3) | ODD, "manifests": st.lists(DESCRIPTORS, max_size=3) | ODD})


@settings(max_examples=300)
@given(MANIFESTS)
def test_whatever_passes_the_check_parses_without_an_exception(data):
    body = json.dumps(data).encode()
    try:
        check_manifest(body, "m")
    except ManifestInvalid as e:
        assert "\n" not in str(e)
        return
    if data.get("schemaVersion") == 1 and "manifests" not in data:
        return
    parsed = parse_manifest(body)  # must not raise: every descriptor it reads was checked
    for d in (*parsed.layers, *parsed.manifests, *([parsed.config] if parsed.config else [])):
        assert isinstance(d.digest, str) and isinstance(d.size, int) and isinstance(d.media_type, str)


def test_an_image_config_must_name_one_diff_id_per_layer_but_an_artifact_config_is_left_alone():
    from pulltrace.client.descriptors import check_config

    good = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [D]}})
    check_config(good.encode(), DOCKER_CONFIG, "c", 1)
    with pytest.raises(ManifestInvalid, match="^c names 1 layer diff_ids for 2 layers; refusing it$"):
        check_config(good.encode(), DOCKER_CONFIG, "c", 2)
    check_config(b"not json at all", "application/vnd.cncf.helm.config.v1+json", "c", 1)
