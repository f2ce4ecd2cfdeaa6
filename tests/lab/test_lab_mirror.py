"""mirror.pulltrace.test: a pull-through cache of hub, and dockerd's registry-mirrors."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from labhelpers import get_manifest, new_lines, sha256, size

pytestmark = pytest.mark.lab


def test_mirror_is_anonymous_and_serves_what_it_fetched_upstream(lab):
    image = lab.images["library/three"]
    layer = image.layers[2]
    with lab.client() as client:
        assert client.get(lab.url("mirror") + "/v2/").status_code == 200
        resp = get_manifest(client, lab.url("mirror"), "library/three", "latest")
        assert resp.status_code == 200
        assert resp.headers["Docker-Content-Digest"] == image.digest
        first = client.get(f"{lab.url('mirror')}/v2/library/three/blobs/{layer.digest}", follow_redirects=True)
        assert sha256(first.content) == layer.digest
        # Once cached, the mirror's own storage answers: a 307 to mirror-cdn.
        second = client.get(f"{lab.url('mirror')}/v2/library/three/blobs/{layer.digest}")
        assert second.status_code == 307
        assert urlsplit(second.headers["Location"]).hostname == lab.endpoints["mirror-cdn"].host
        assert sha256(client.get(second.headers["Location"]).content) == layer.digest
        # private/ needs credentials on hub; the mirror fetches it as admin, for anyone.
        secret = get_manifest(client, lab.url("mirror"), "private/secret", "latest")
        assert secret.headers["Docker-Content-Digest"] == lab.images["private/secret"].digest
    cached = lab.state_dir / "mirror-storage/docker/registry/v2/blobs/sha256" / layer.digest[7:9] / layer.digest[7:]
    assert (cached / "data").exists()


def test_docker_pull_of_hub_name_goes_through_the_mirror(lab):
    d = lab.docker()
    d.docker("rmi", "-f", "tiny-plus", check=False)
    log = lab.log("registry-mirror")
    before = size(log)
    d.docker("pull", "tiny-plus")
    lines = new_lines(log, before)
    assert any("/v2/library/tiny-plus/manifests/latest" in line for line in lines)
    image_id = d.docker("image", "inspect", "--format", "{{.Id}}", "tiny-plus").stdout.strip()
    assert image_id == lab.images["library/tiny-plus"].config_digest
