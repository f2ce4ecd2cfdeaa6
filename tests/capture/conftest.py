"""Fixtures for capturing real pulls through `mitmdump -s addons/pulltrace.py`.

`mitm` starts mitmdump with the addon on one port for the whole session (a lab dockerd
reads its proxy at start, so the port must not change), one mitmdump per test; a test
calls `mitm.trace()` to stop it, which makes the addon write its trace JSON. A test that
also wants mitmdump's own flow file (`-w`), or mitmdump without the addon, says so with
`@pytest.mark.parametrize("mitm", [{"flows": True, "addon": False}], indirect=True)`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.mitmdump import Mitmdump, free_port, mitmdump_command
from pulltrace.capture import jsonl
from pulltrace.model import Trace, load_trace

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addons" / "pulltrace.py"


class Mitm:
    """One mitmdump with the pulltrace addon; `trace()` stops it and reads what it wrote."""

    def __init__(self, port: int, confdir: Path, out: Path, ca: Path, *, flows: bool = False,
                 addon: bool = True) -> None:
        self.port, self.confdir, self.out = port, confdir, out
        self.log = out / "mitmdump.log"
        self.flows = out / "pull.flows"  # written only with flows=True
        out.mkdir(parents=True, exist_ok=True)
        argv = mitmdump_command(port=port, confdir=confdir, upstream_ca=ca, addon=ADDON, out=out, with_addon=addon,
                                outputs=("console", "jsonl", "json", "html"),
                                options=("flow_detail=0", "pulltrace_idle=1"))
        if flows:
            argv += ["-w", str(self.flows)]
        self.mitmdump = Mitmdump.start(argv, log=self.log, cwd=out, port=port)

    @property
    def url(self) -> str:
        return self.mitmdump.url

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def stop(self) -> None:
        self.mitmdump.stop()

    def trace(self) -> Trace:
        self.stop()
        path = self.out / "pulltrace.json"
        assert path.exists(), f"the addon wrote no trace; mitmdump said: {self.mitmdump.console()[-3000:]}"
        trace = load_trace(path)
        # The exit-time trace is the finished pulls of pulltrace.jsonl, read back: the same sessions.
        streamed = jsonl.load_trace(self.out / "pulltrace.jsonl")
        assert trace.to_dict()["sessions"] == streamed.to_dict()["sessions"]
        return trace

    def console(self) -> str:
        return self.mitmdump.console()


@pytest.fixture(scope="session")
def mitm_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def mitm_confdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mitmconf")


@pytest.fixture
def mitm(request, lab, mitm_port, mitm_confdir, tmp_path):
    m = Mitm(mitm_port, mitm_confdir, tmp_path / "out", lab.ca_path, **getattr(request, "param", {}))
    yield m
    m.stop()


@pytest.fixture
def daemon(lab, mitm):
    """The lab dockerd whose proxy is our mitmdump, emptied of images and cached manifests."""
    d = lab.docker("capture", proxy=mitm.url)
    d.forget_images()
    return d
