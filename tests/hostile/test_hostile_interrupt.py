"""Ctrl-C on a stalled socket: the pull exits at once with 130, and leaves no output behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from relay import Reply, Request

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("where", ["layer", "manifest"])
def test_ctrl_c_on_a_stalled_socket_exits_at_once_with_130(lab, relay, tmp_path, where):
    """`layer`: the stall is in a download thread (behind the CDN); `manifest`: in the
    main thread (the registry's answer to GET /manifests/<digest>)."""
    layer = lab.images["library/busybox"].layers[0]
    manifest = lab.images["library/busybox"].digest

    def stall(request: Request, forward) -> Reply:
        reply = forward(request)
        stalled_path = layer.digest[7:] if where == "layer" else f"/manifests/{manifest}"
        if stalled_path in request.path and request.method == "GET" and reply.status == 200:
            reply.stall_after = min(100_000, len(reply.body) // 2)  # some bytes, then no FIN, no RST
        return reply

    server = relay("cdn" if where == "layer" else "hub", stall)
    if where == "layer":
        ref, extra = f"{lab.host('hub')}/library/busybox", ["--blob-proxy", server.base(lab.host("cdn"))]
    else:
        ref, extra = f"{lab.host('hub')}:{server.port}/library/busybox", []
    out = tmp_path / "bb.tar"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulltrace", "pull", ref, "-q", "-o", str(out), "--cache", str(tmp_path / "c"),
         "--save-trace", str(tmp_path / "t.json"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert server.stalled.wait(60), "the pull never reached the stall"
        proc.send_signal(signal.SIGINT)
        # The read timeout is 30 s and a stalled read is retried: without an immediate exit
        # this takes minutes; 15 s is a bound on "it hangs", not a speed goal.
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert err == "pulltrace: interrupted\n"
    assert not out.exists()
    # Only the cache (if the pull got that far) and the trace, which explains the stop.
    assert {p.name for p in tmp_path.iterdir()} - {"c"} == {"t.json"}
