"""The shape of a manifest a registry sent, checked before anything of it is used.

`pulltrace.manifest.parse_manifest` reduces a manifest to what a pull needs and trusts the
types it finds; the client pulls from registries it does not trust, so every descriptor
(the config, each layer, each index entry) is checked first against the image spec
(descriptor.md): `mediaType` a string, `digest` a valid digest, `size` a non-negative int64,
`platform` an object of strings. The first violation is one ManifestInvalid line naming
the manifest, the descriptor and the field. An image config (the blob `docker load` and
containerd read to unpack the layers) is checked the same way once it has arrived.
"""

from __future__ import annotations

import json
from typing import Any

from pulltrace.client.digests import check_digest, is_sha256, shown
from pulltrace.client.errors import ManifestInvalid
from pulltrace.manifest import CONFIG_TYPES

INT64_MAX = 2**63 - 1


def load_manifest_json(body: bytes, what: str) -> dict[str, Any]:
    """The manifest's JSON object; ManifestInvalid for anything else (not JSON, too deep)."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise ManifestInvalid(f"{what} is JSON nested too deeply; refusing it") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestInvalid(f"{what} is not JSON ({shown(str(e))}); refusing it") from None
    if not isinstance(data, dict):
        raise ManifestInvalid(f"{what} is JSON but not an object; refusing it")
    return data


def check_manifest(body: bytes, what: str) -> None:
    """Refuse a manifest or index whose descriptors break the image spec."""
    data = load_manifest_json(body, what)
    media_type = data.get("mediaType")
    if media_type is not None and not isinstance(media_type, str):
        raise ManifestInvalid(f"{what} has a mediaType that is not a string ({shown(media_type)})")
    if "manifests" in data:
        entries = data["manifests"]
        if not isinstance(entries, list):
            raise ManifestInvalid(f"{what}: `manifests` is not a list ({shown(entries)})")
        for i, entry in enumerate(entries, 1):
            check_descriptor(entry, f"entry {i} of {what}", platform=True)
        return
    if data.get("schemaVersion") == 1:
        return  # schema1: refused by name later
    if "config" in data:
        check_descriptor(data["config"], f"the config of {what}")
    layers = data.get("layers", [])
    if not isinstance(layers, list):
        raise ManifestInvalid(f"{what}: `layers` is not a list ({shown(layers)})")
    for i, layer in enumerate(layers, 1):
        check_descriptor(layer, f"layer {i} of {what}")


def check_descriptor(d: object, what: str, platform: bool = False) -> None:
    if not isinstance(d, dict):
        raise ManifestInvalid(f"{what} is not a descriptor object ({shown(d)})")
    media_type = d.get("mediaType", "")
    if not isinstance(media_type, str):
        raise ManifestInvalid(f"{what} has a mediaType that is not a string ({shown(media_type)})")
    if "digest" not in d:
        raise ManifestInvalid(f"{what} has no digest")
    check_digest(d["digest"], what)
    size = d.get("size")
    # JSON true is a Python int; 1.0 and "12" are not sizes; the spec's size is an int64.
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= INT64_MAX:
        raise ManifestInvalid(f"{what} has an invalid size {shown(size)} (a byte count is required)")
    if platform and "platform" in d:
        p = d["platform"]
        if not isinstance(p, dict):
            raise ManifestInvalid(f"{what} has a platform that is not an object ({shown(p)})")
        for key in ("os", "architecture", "variant"):
            if key in p and not isinstance(p[key], str):
                raise ManifestInvalid(f"{what} has a platform {key} that is not a string ({shown(p[key])})")


def check_config(body: bytes, media_type: str, what: str, layers: int) -> None:
    """Refuse an image config that no loader could use: not a JSON object, or `rootfs.diff_ids`
    that is not one sha256 digest per layer (image-spec config.md). Configs of other media
    types (artifacts) are not images and are left alone."""
    if media_type not in CONFIG_TYPES:
        return
    data = load_manifest_json(body, what)
    for key in ("os", "architecture", "variant"):
        if key in data and not isinstance(data[key], str):
            raise ManifestInvalid(f"{what} has an {key} that is not a string ({shown(data[key])}); refusing it")
    rootfs = data.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(is_sha256(d) for d in diff_ids):
        raise ManifestInvalid(f"{what} has no list of sha256 rootfs.diff_ids ({shown(diff_ids)}); refusing it")
    if len(diff_ids) != layers:
        raise ManifestInvalid(f"{what} names {len(diff_ids)} layer diff_ids for {layers} layers; refusing it")
