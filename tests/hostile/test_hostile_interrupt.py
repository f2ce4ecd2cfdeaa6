"""Ctrl-C on a stalled socket: the pull exits at once with 130, and leaves no output behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from relay import Reply, Request

pytestmark = pytest.mark.lab


def test_ctrl_c_on_a_stalled_download_exits_at_once_with_130(lab, relay, tmp_path):
    layer = lab.images["library/busybox"].layers[0]

    def stall(request: Request, forward) -> Reply:
        reply = forward(request)
        if layer.digest[7:] in request.path and reply.status == 200:
            reply.stall_after = 100_000  # headers and some bytes, then nothing: no FIN, no RST
        return reply

    cdn = relay("cdn", stall)
    out = tmp_path / "bb.tar"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulltrace", "pull", f"{lab.host('hub')}/library/busybox", "-q", "-o", str(out),
         "--cache", str(tmp_path / "c"), "--save-trace", str(tmp_path / "t.json"),
         "--blob-proxy", cdn.base(lab.host("cdn"))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert cdn.stalled.wait(60), "the download never reached the stall"
        proc.send_signal(signal.SIGINT)
        # The read timeout is 30 s and a stalled read is retried: without an immediate exit
        # this would take minutes; 15 s is a bound on "it hangs", not a speed goal.
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert err == "pulltrace: interrupted\n"
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "t.json"]  # the trace explains the stop
