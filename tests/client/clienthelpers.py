"""Helpers for the pull client's lab tests (importable: pytest puts this folder on sys.path).

`Relay` is a real TCP relay in front of a real lab server: it forwards bytes untouched unless
told to cut a connection after N bytes, to slow it down, or to flip one byte of a body —
the faults a pull must survive (or refuse) on a real network.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

from pulltrace.model import Trace, load_trace


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def archive_digests(path: Path) -> tuple[str, list[str]]:
    """(config digest, layer digests) of a docker-archive, each recomputed from its bytes."""
    with tarfile.open(path) as tar:
        [entry] = json.loads(tar.extractfile("manifest.json").read())
        config = tar.extractfile(entry["Config"]).read()
        layers = ["sha256:" + hashlib.sha256(tar.extractfile(n).read()).hexdigest() for n in entry["Layers"]]
    return "sha256:" + hashlib.sha256(config).hexdigest(), layers


def steps(trace: Trace) -> list:
    return [s for session in trace.sessions for s in session.steps]


def kinds(trace_path: Path) -> list[str]:
    return [str(s.kind) for s in steps(load_trace(trace_path))]


def pulltrace_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pulltrace", *args]


def run_pull(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`pulltrace pull …` as a user runs it: its own process, exit code and stderr."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(pulltrace_cmd("pull", *args), capture_output=True, text=True, timeout=timeout,
                          env=full_env, input=stdin)


class Relay:
    """A TCP relay on 127.0.0.1 to `target`, with optional faults on the server→client side.

    cut_after:  close the first `cuts` connections after that many bytes went to the client.
    rate:       bytes per second towards the client (a slow network).
    flip_after: on plain HTTP, flip one body byte this far into the first response whose
                headers say `application/octet-stream` (a blob), then behave.
    answers:    canned replies (e.g. a 503) for the first connections, each then closed, as an
                overloaded front end answers before the real server behind it is reached.
    """

    def __init__(self, target: tuple[str, int], *, cut_after: int | None = None, cuts: int = 1,
                 rate: float | None = None, flip_after: int | None = None,
                 answers: list[bytes] | None = None) -> None:
        self.answers = list(answers or [])
        self.target = target
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.rate = rate
        self.flip_after = flip_after
        self.flipped = 0
        self.connections = 0
        self.cuts_done = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                answer = self.answers.pop(0) if self.answers else None
            if answer is not None:
                try:
                    client.recv(65536)
                    client.sendall(answer)
                finally:
                    client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_client: bool) -> None:
        sent = 0
        cut_here = False
        if to_client and self.cut_after is not None:
            with self._lock:
                if self.cuts_left > 0:
                    self.cuts_left -= 1
                    cut_here = True
        flip = _Flipper(self.flip_after) if to_client and self.flip_after is not None else None
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if flip is not None and not self.flipped:
                    data = flip.feed(data)
                    if flip.done:
                        with self._lock:
                            self.flipped += 1
                if cut_here and sent + len(data) >= self.cut_after:
                    dst.sendall(data[: self.cut_after - sent])
                    with self._lock:
                        self.cuts_done += 1
                    break
                if self.rate and to_client:
                    time.sleep(len(data) / self.rate)
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class _Flipper:
    """Finds the body of the first blob response in a plain-HTTP stream and flips one byte."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.head = b""
        self.body_seen = -1
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return data
        if self.body_seen < 0:
            self.head += data
            marker = self.head.find(b"application/octet-stream")
            end = self.head.find(b"\r\n\r\n", marker) if marker >= 0 else -1
            if end < 0:
                self.head = self.head[-4096:]
                return data
            body_start_in_data = len(data) - (len(self.head) - (end + 4))
            self.body_seen = 0
            return data[:body_start_in_data] + self._flip(data[body_start_in_data:])
        return self._flip(data)

    def _flip(self, body: bytes) -> bytes:
        at = self.offset - self.body_seen
        self.body_seen += len(body)
        if 0 <= at < len(body):
            self.done = True
            return body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1:]
        return body
