"""Helpers shared by the lab integration tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import httpx
import pytest

from pulltrace.manifest import ACCEPT_ALL_MANIFESTS

SKOPEO = "/usr/bin/skopeo"


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run skopeo 1.9; it verifies TLS against the system store, where `lab up` put the CA."""
    if not shutil.which(SKOPEO):
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    proc = subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get_manifest(client: httpx.Client, base: str, repo: str, ref: str, token: str | None = None) -> httpx.Response:
    headers = {"Accept": ACCEPT_ALL_MANIFESTS}
    if token:
        headers.update(bearer(token))
    return client.get(f"{base}/v2/{repo}/manifests/{ref}", headers=headers)


def new_lines(path, before: int) -> list[str]:
    """Lines appended to a log since it was `before` bytes long."""
    with open(path, "rb") as f:
        f.seek(before)
        return f.read().decode(errors="replace").splitlines()


def size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
