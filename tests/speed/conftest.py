"""Fixtures for slow pulls captured from real clients: mitmdump with the addon (one port for the
session, as a lab dockerd reads its proxy at start), a lab dockerd of this folder's own, and a
purge of the lab's CDN edge so a pull can start cold."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.mitmdump import Mitmdump, free_port, mitmdump_command
from pulltrace.lab import slow as lab_slow
from pulltrace.model import Trace, load_trace

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addons" / "pulltrace.py"


class Mitm:
    """One mitmdump with the pulltrace addon; `trace()` stops it and reads the trace it wrote."""

    def __init__(self, port: int, confdir: Path, out: Path, ca: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        # pulltrace_idle: a pull closes when quiet that long; a loaded machine pauses between requests.
        argv = mitmdump_command(port=port, confdir=confdir, upstream_ca=ca, addon=ADDON, out=out,
                                outputs=("json",), options=("flow_detail=0", "pulltrace_idle=5"))
        self.mitmdump = Mitmdump.start(argv, log=out / "mitmdump.log", cwd=out, port=port)
        self.ca_cert = confdir / "mitmproxy-ca-cert.pem"

    @property
    def url(self) -> str:
        return self.mitmdump.url

    def trace(self) -> Trace:
        self.mitmdump.stop()
        path = self.out / "pulltrace.json"
        assert path.exists(), f"the addon wrote no trace; mitmdump said: {self.mitmdump.console()[-3000:]}"
        return load_trace(path)


@pytest.fixture(scope="session")
def slow_mitm_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def slow_mitm_confdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("slow-mitmconf")


@pytest.fixture
def start_mitm(lab, slow_mitm_port, slow_mitm_confdir, tmp_path):
    """`start_mitm("cold")`: a fresh mitmdump on the session's port writing to tmp_path/cold."""
    started: list[Mitm] = []

    def start(name: str) -> Mitm:
        for m in started:
            m.mitmdump.stop()
        m = Mitm(slow_mitm_port, slow_mitm_confdir, tmp_path / name, lab.ca_path)
        started.append(m)
        return m

    yield start
    for m in started:
        m.mitmdump.stop()


@pytest.fixture
def slow_daemon(lab, slow_mitm_port):
    """A lab dockerd of its own whose proxy is the session's mitmdump port, emptied of images."""
    d = lab.docker("slow-capture", proxy=f"http://127.0.0.1:{slow_mitm_port}")
    d.forget_images()
    return d


@pytest.fixture
def cold_edge(lab) -> None:
    """The edge's cache emptied, as a CDN purge does: the next pull of a blob through it misses."""
    lab_slow.purge_edge(lab.settings)
