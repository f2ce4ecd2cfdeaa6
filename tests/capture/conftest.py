"""Fixtures for capturing real pulls through `mitmdump -s addons/pulltrace.py`.

`mitm` starts mitmdump with the addon on one port for the whole session (a lab dockerd
reads its proxy at start, so the port must not change), one mitmdump per test; a test
calls `mitm.trace()` to stop it, which makes the addon write its trace JSON.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pulltrace.model import Trace, load_trace

from capturehelpers import reset_daemon

ROOT = Path(__file__).resolve().parents[2]
MITMDUMP = Path(sys.executable).with_name("mitmdump")
ADDON = ROOT / "addons" / "pulltrace.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mitm:
    """One mitmdump with the pulltrace addon; `trace()` stops it and reads what it wrote."""

    def __init__(self, port: int, confdir: Path, out: Path, ca: Path) -> None:
        self.port, self.confdir, self.out = port, confdir, out
        self.log = out / "mitmdump.log"
        out.mkdir(parents=True, exist_ok=True)
        argv = [str(MITMDUMP), "--listen-host", "127.0.0.1", "-p", str(port), "--set", f"confdir={confdir}",
                "--set", f"ssl_verify_upstream_trusted_ca={ca}", "--set", "flow_detail=0",
                "-s", str(ADDON), "--set", f"pulltrace_dir={out}", "--set", "pulltrace_outputs=console,json,html",
                "--set", "pulltrace_idle=1"]
        self.proc = subprocess.Popen(argv, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, cwd=out)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mitmdump exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("mitmdump did not start listening")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def trace(self) -> Trace:
        self.stop()
        path = self.out / "pulltrace.json"
        assert path.exists(), f"the addon wrote no trace; mitmdump said: {self.log.read_text()[-3000:]}"
        return load_trace(path)

    def console(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def mitm_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def mitm_confdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mitmconf")


@pytest.fixture
def mitm(lab, mitm_port, mitm_confdir, tmp_path):
    m = Mitm(mitm_port, mitm_confdir, tmp_path / "out", lab.ca_path)
    yield m
    m.stop()


@pytest.fixture
def daemon(lab, mitm):
    """The lab dockerd whose proxy is our mitmdump, emptied of images and cached manifests."""
    d = lab.docker("capture", proxy=mitm.url)
    reset_daemon(d)
    return d
