"""The same docker pull, captured through mitmdump and read from the lab's logs: the same pull.

What the logs cannot see (response headers and bodies, hence which blob is the config) is
left out of the comparison, and only that.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from logshelpers import Tail, pulls_of, report

from devtools.mitmdump import Mitmdump, free_port, mitmdump_command
from pulltrace.model import Session, load_trace

pytestmark = pytest.mark.lab

IMAGE = "library/three"


def _requests(session: Session) -> list[tuple[str, str, str, int | None]]:
    """(kind, method, path, status) of each step, blobs' roles forgotten (a log cannot tell the config)."""
    out = []
    for step in session.steps:
        kind = "blob" if step.kind.value in ("config-blob", "layer-blob") else step.kind.value
        ex = step.exchange
        out.append((kind, ex.method, urlsplit(ex.url).path, ex.status))
    return out


def test_a_captured_docker_pull_and_the_same_pull_in_the_logs_agree(lab, tmp_path):
    port = free_port()
    out = tmp_path / "capture"
    out.mkdir()
    argv = mitmdump_command(port=port, confdir=tmp_path / "mitmconf", upstream_ca=lab.ca_path, out=out,
                            outputs=("json",), options=("flow_detail=0", "pulltrace_idle=1"))
    mitm = Mitmdump.start(argv, log=out / "mitmdump.log", cwd=out, port=port)
    daemon = lab.docker("logs-capture", proxy=mitm.url)
    try:
        daemon.forget_images()
        tail = Tail("nginx-access.log", "registry-hub.log", "cdn-access.log")
        image = f"{lab.host('hub')}/{IMAGE}"
        daemon.docker("pull", image)
        nginx, registry, cdn = tail.copy(tmp_path)
    finally:
        mitm.stop()
        daemon.stop()
    want = f"{image}:latest"
    (captured,) = pulls_of(load_trace(out / "pulltrace.json"), want, "docker/")
    (from_nginx,) = pulls_of(report(nginx, cdn), want, "docker/")
    (from_registry,) = pulls_of(report(registry, cdn), want, "docker/")

    seen = _requests(captured)
    # nginx sees every host the client talked to, so every request of the capture, in its order
    # (blob downloads overlap: their order between one another is the log's, not the client's).
    assert _requests(from_nginx)[:4] == seen[:4]
    assert sorted(_requests(from_nginx)) == sorted(seen)
    # The registry's own log has all but the token request, which another service answered.
    assert sorted(_requests(from_registry)) == sorted(r for r in seen if r[0] != "token")
    for session in (from_nginx, from_registry):
        assert session.summary.image == captured.summary.image
        assert session.findings == captured.findings == []
        assert sorted(s.reference for s in session.steps if s.kind.value == "cdn-download") == sorted(
            s.reference for s in captured.steps if s.kind.value == "cdn-download")
