"""Pushing the lab's images through the registry HTTP API, the way `docker push` does.

Monolithic uploads (`POST /blobs/uploads/` then `PUT <location>?digest=`), blobs skipped
when a `HEAD` finds them, platform manifests by digest before the index that names them
(distribution refuses an index whose manifests it does not have).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from pulltrace.lab.images import Blob, BuiltImage


class PushError(RuntimeError):
    """The registry refused part of a push; the message names the request and the answer."""


def _check(resp: httpx.Response, what: str, ok: tuple[int, ...]) -> httpx.Response:
    if resp.status_code not in ok:
        raise PushError(f"{what}: HTTP {resp.status_code} {resp.text[:200]}")
    return resp


def push_blob(client: httpx.Client, repo: str, blob: Blob) -> bool:
    """Upload one blob unless the repository already links it; True when uploaded."""
    head = client.head(f"/v2/{repo}/blobs/{blob.digest}")
    if head.status_code == 200:
        return False
    start = _check(client.post(f"/v2/{repo}/blobs/uploads/"), f"start upload to {repo}", (202,))
    location = start.headers["Location"]
    sep = "&" if "?" in location else "?"
    _check(
        client.put(f"{location}{sep}digest={blob.digest}", content=blob.data,
                   headers={"Content-Type": "application/octet-stream"}),
        f"upload {blob.digest} to {repo}", (201,),
    )
    return True


def push_manifest(client: httpx.Client, repo: str, ref: str, manifest: Blob) -> None:
    head = client.head(f"/v2/{repo}/manifests/{ref}", headers={"Accept": manifest.media_type})
    if head.status_code == 200 and head.headers.get("Docker-Content-Digest") == manifest.digest:
        return
    _check(
        client.put(f"/v2/{repo}/manifests/{ref}", content=manifest.data,
                   headers={"Content-Type": manifest.media_type}),
        f"put manifest {repo}:{ref}", (201,),
    )


def push_image(client: httpx.Client, image: BuiltImage) -> int:
    """Push one image; returns how many blobs were uploaded (0 on a repeat `lab up`)."""
    repo = image.repository
    uploaded = sum(push_blob(client, repo, blob) for blob in image.blobs)
    for _, manifest, _, _ in image.children:
        push_manifest(client, repo, manifest.digest, manifest)
    push_manifest(client, repo, image.tag, image.manifest)
    return uploaded


def push_all(base_url: str, images: tuple[BuiltImage, ...], token_for: Callable[[str], str],
             timeout: float = 120.0) -> int:
    """Push every image to `base_url` with a push token per repository (`token_for(repo)`)."""
    total = 0
    for image in images:
        headers = {"Authorization": f"Bearer {token_for(image.repository)}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client:
            total += push_image(client, image)
    return total


def manifest_digest(base_url: str, repo: str, ref: str, media_type: str, token: str) -> str | None:
    """The digest the registry holds for `repo:ref`, or None when it has none."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        resp = client.head(f"/v2/{repo}/manifests/{ref}",
                           headers={"Accept": media_type, "Authorization": f"Bearer {token}"})
    return resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None
