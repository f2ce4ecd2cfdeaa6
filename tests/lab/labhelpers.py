"""Helpers shared by the lab integration tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time

import httpx
import pytest
from netpipe import relay

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


def lines_with(path, before: int, *needles: str, timeout: float = 10.0) -> list[str]:
    """New lines holding every needle, waiting for the first: nginx writes a request's access-log
    line after it has sent the response, so a fast client can read the log before it is there."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in new_lines(path, before) if all(n in line for n in needles)]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class TunnelProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that records which host:port each tunnel opened.

    Enough to prove a client honours HTTPS_PROXY without depending on mitmproxy.
    """

    def __init__(self) -> None:
        import socket
        import threading

        self.targets: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._threading = threading
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn) -> None:
        import socket

        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        method, target = head.split(b" ", 2)[:2]
        if method != b"CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        self.targets.append(target.decode())
        host, _, port = target.decode().rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        relay(conn, upstream)

    def close(self) -> None:
        self._closed = True
        self._sock.close()
