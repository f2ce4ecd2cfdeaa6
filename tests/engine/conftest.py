"""Fixtures for the engine's lab tests: real clients pull through a bare mitmdump (no addon)
that writes its flow file; the test reads that file through the same engine every source
uses (`build_trace` over the importer's exchanges), so what is checked is the grouping alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devtools.mitmdump import Mitmdump, free_port, mitmdump_command
from pulltrace.capture.importers import load_exchanges
from pulltrace.capture.jsonl import read_sessions
from pulltrace.model import Trace
from pulltrace.pipeline import build_trace


class FlowCapture:
    """One mitmdump recording every flow to a file; `trace()` stops it and builds the trace."""

    def __init__(self, port: int, confdir: Path, out: Path, ca: Path, *, addon: bool = False) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.confdir = confdir
        self.flows = out / "pull.flows"
        # With the addon, `trace()` is what it grouped live: its pulltrace.jsonl.
        self.jsonl = out / "pulltrace.jsonl" if addon else None
        argv = mitmdump_command(port=port, confdir=confdir, upstream_ca=ca, with_addon=addon, out=out,
                                outputs=("jsonl",), options=("flow_detail=0",)) + ["-w", str(self.flows)]
        self.mitmdump = Mitmdump.start(argv, log=out / "mitmdump.log", cwd=out, port=port)

    @property
    def url(self) -> str:
        return self.mitmdump.url

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def certs_dir(self, where: Path) -> Path:
        """A directory skopeo/podman read with --cert-dir / --src-cert-dir: mitmproxy's CA."""
        where.mkdir(parents=True, exist_ok=True)
        (where / "mitmproxy.crt").write_bytes(self.ca_cert.read_bytes())
        return where

    def trace(self) -> Trace:
        self.mitmdump.stop()
        assert self.flows.exists(), self.mitmdump.console()[-3000:]
        if self.jsonl is not None:
            assert self.jsonl.exists(), self.mitmdump.console()[-3000:]
            return Trace(sessions=list(read_sessions(self.jsonl)))
        return build_trace(load_exchanges(self.flows), "mitmproxy")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(HTTPS_PROXY=self.url, HTTP_PROXY=self.url, https_proxy=self.url, http_proxy=self.url)
        return env


@pytest.fixture(scope="session")
def engine_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def engine_confdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("engine-mitmconf")


@pytest.fixture
def capture(lab, engine_port, engine_confdir, tmp_path):
    c = FlowCapture(engine_port, engine_confdir, tmp_path / "out", lab.ca_path)
    yield c
    c.mitmdump.stop()


@pytest.fixture
def addon_capture(lab, engine_port, engine_confdir, tmp_path):
    """The same mitmdump with the pulltrace addon: `trace()` is the pulls it wrote live."""
    c = FlowCapture(engine_port, engine_confdir, tmp_path / "out", lab.ca_path, addon=True)
    yield c
    c.mitmdump.stop()
