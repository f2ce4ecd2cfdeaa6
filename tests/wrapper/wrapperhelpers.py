"""Helpers for the capture-wrapper and mirror lab tests (this folder is on sys.path under pytest):
the real CLI, a private containerd, a running mirror, and reading what a capture wrote."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pulltrace.model import Session, Step, Trace, load_trace

ROOT = Path(__file__).resolve().parents[2]


def clean_env(home: Path) -> dict[str, str]:
    """The caller's environment with a fresh HOME (nothing trusts mitmproxy's CA beforehand)
    and no proxy or lab trust settings of its own."""
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and k not in ("SSL_CERT_FILE", "DOCKER_HOST", "DOCKER_CONFIG")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    return env


def pulltrace(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m pulltrace ARGS` as a user runs it, output captured as text."""
    return subprocess.run([sys.executable, "-m", "pulltrace", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


class Containerd:
    """A containerd of the tests' own (its own root, state and socket): its content store starts
    empty, so a pull shows every blob on the wire."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.address = root / "c.sock"
        config = root / "config.toml"
        config.write_text("version = 2\n")
        self.log = root / "containerd.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["/usr/bin/containerd", "--config", str(config), "--root", str(root / "root"),
                 "--state", str(root / "state"), "--address", str(self.address)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.ctr("version", check=False).returncode == 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"containerd did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.3)

    def ctr(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["/usr/bin/ctr", "--address", str(self.address), *args], env=env,
                              capture_output=True, text=True, timeout=600, check=check)

    def argv(self, *args: str) -> list[str]:
        return ["/usr/bin/ctr", "--address", str(self.address), *args]

    def forget(self) -> None:
        """No image and no content: the next pull fetches every blob."""
        for ref in self.ctr("images", "ls", "-q", check=False).stdout.split():
            self.ctr("images", "rm", ref, check=False)
        listed = self.ctr("content", "ls", "-q", check=False).stdout.split()
        if listed:
            self.ctr("content", "rm", *listed, check=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Mirror:
    """A running `pulltrace mirror` (the real command, as a child process)."""

    def __init__(self, upstream: str, out: Path, env: dict[str, str], cwd: Path, extra: list[str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.listen = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.listen}"
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pulltrace", "mirror", upstream, "--listen", self.listen, "-o", str(out),
             *extra], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        self.first = self.proc.stdout.readline()  # printed once it listens (or an error, and it exits)
        if not self.first.startswith("pulltrace mirror: "):
            self.proc.wait(30)
            raise RuntimeError(f"the mirror did not start: {self.first}{self.proc.stdout.read()}")

    def stop(self) -> str:
        """SIGTERM (as a service manager stops it); returns everything it printed."""
        self.proc.send_signal(signal.SIGTERM)
        rest, _ = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, self.first + rest
        return self.first + rest


def trace_in(out: Path) -> Trace:
    return load_trace(out / "pulltrace.json")


def pull_of(trace: Trace, repository: str) -> Session:
    """The one pull session of `repository` (a client may open several; they must agree)."""
    sessions = [s for s in trace.sessions if s.action == "pull" and repository in (s.summary.image or "")]
    assert sessions, [(s.action, s.summary.image) for s in trace.sessions]
    return sessions[0]


def kinds(steps: list[Step]) -> set[str]:
    return {s.kind.value for s in steps}


def all_steps(trace: Trace) -> list[Step]:
    return [step for session in trace.sessions for step in session.steps]
