"""The real clients the engine's lab tests drive through one mitmdump. Each call starts one
pull and returns its process, so a test can run several at once and `wait` for them all."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pulltrace.lab import procs
from pulltrace.lab.docker import CTR, DOCKER, DockerDaemon
from pulltrace.model import Session

PODMAN_STORAGE = ("--storage-driver", "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs")


def need(binary: str) -> None:
    if not shutil.which(binary):
        pytest.skip(f"{binary} is not installed")


class Clients:
    """skopeo, podman, ctr and docker, each trusting the capture's CA and sending through it."""

    def __init__(self, capture, tmp_path: Path) -> None:
        self.capture = capture
        self.tmp_path = tmp_path
        self.certs = capture.certs_dir(tmp_path / "certs")
        self.n = 0
        self._scratch: list[Path] = []

    def _next(self) -> int:
        self.n += 1
        return self.n

    def skopeo(self, ref: str) -> subprocess.Popen[bytes]:
        need("skopeo")
        out = self.tmp_path / f"copy{self._next()}.tar"
        return subprocess.Popen(["skopeo", "copy", "--src-cert-dir", str(self.certs), f"docker://{ref}",
                                 f"docker-archive:{out}"], env=self.capture.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def podman(self, ref: str) -> subprocess.Popen[bytes]:
        need("podman")
        # Its own storage, so every blob is fetched; podman refuses a runroot over 50 characters.
        short = Path(tempfile.mkdtemp(prefix="grouping-podman-"))
        self._scratch.append(short)
        return subprocess.Popen(["podman", "--root", str(short / "root"), "--runroot", str(short / "run"),
                                 *PODMAN_STORAGE, "pull", "--cert-dir", str(self.certs), ref],
                                env=self.capture.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ctr(self, dockerd: DockerDaemon, ref: str) -> subprocess.Popen[bytes]:
        """`ctr images pull` against the lab dockerd's containerd; ctr fetches in its own process."""
        bundle = self.tmp_path / "ctr-ca.pem"
        bundle.write_bytes(self.capture.ca_cert.read_bytes())
        env = procs.daemon_env({**{k: v for k, v in self.capture.env().items() if "proxy" in k.lower()},
                                "SSL_CERT_FILE": str(bundle)})
        return subprocess.Popen([CTR, "--address", str(dockerd.containerd_address), "-n", f"grouping{self._next()}",
                                 "images", "pull", ref], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def docker(self, dockerd: DockerDaemon, ref: str) -> subprocess.Popen[bytes]:
        """`docker pull` through a lab dockerd started with the capture as its proxy."""
        return subprocess.Popen([DOCKER, "-H", dockerd.host, "pull", ref], env=procs.daemon_env(dockerd.env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def cleanup(self) -> None:
        for path in self._scratch:
            shutil.rmtree(path, ignore_errors=True)


def wait(*running: subprocess.Popen[bytes]) -> None:
    for proc in running:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{proc.args}: {err.decode()}"


def agents(session: Session) -> set[str]:
    """The programs that sent a session's requests (the first word of each User-Agent)."""
    return {(s.exchange.request_header("user-agent") or "").split(" ")[0].split("/")[0] for s in session.steps}


def hosts(session: Session) -> set[str]:
    return {s.exchange.url.split("/")[2] for s in session.steps}


def tokens_with_their_retries(session: Session) -> bool:
    """Every token of a session was presented by a request of the same session."""
    ids = {s.id for s in session.steps}
    return all(set(s.linked("retried-by")) <= ids for s in session.steps if s.linked("answers"))
