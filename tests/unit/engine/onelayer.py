"""A one-layer image as the grouping tests' hand-written exchanges serve it."""

import json

CONFIG = "sha256:" + "c" * 64
LAYER = "sha256:" + "d" * 64
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": CONFIG, "size": 2},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": LAYER, "size": 3}],
})
DIGEST = "sha256:" + "e" * 64
MANIFEST_HEADERS = [("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
                    ("Docker-Content-Digest", DIGEST)]
