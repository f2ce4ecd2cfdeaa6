"""A connection slow to open, on a real pull: the kernel drops the first SYN, mitmproxy opens the
upstream connection when skopeo's CONNECT arrives, and the second it waits for the SYN to be sent
again lies before every request. No step's duration shows it; `speed.slow-connect` must.

The lost SYN is the real kernel's: `SlowDoor` listens in front of the lab's nginx with an accept
queue of one, already taken, so Linux drops the next SYN (and counts it in TcpExt ListenOverflows);
once it has, the door makes room, and the client's kernel sends the SYN again after its 1 s timeout.
Everything behind the door is the lab's: nginx, the registry, the token service.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from netpipe import relay
from test_slow_pulls_lab import proxy_env, speed_rules, the_pull

from pulltrace.timing import time_split

pytestmark = pytest.mark.lab

NGINX = ("127.0.0.1", 443)


def listen_overflows() -> int:
    """TcpExt ListenOverflows: SYNs the kernel dropped because a listener's accept queue was full."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split()[1:], values.split()[1:], strict=True))["ListenOverflows"])
    raise AssertionError("no TcpExt counters in /proc/net/netstat")


class SlowDoor:
    """A TCP port in front of nginx whose first connection loses its SYN once; later ones are quick."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=0)
        self.port = self.server.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port))  # the queue's one place, taken
        self.dropped_before = listen_overflows()
        self.dropped = 0
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while listen_overflows() == self.dropped_before and not self.closed.wait(0.01):
            pass
        self.dropped = listen_overflows() - self.dropped_before
        filler, _ = self.server.accept()
        filler.close()  # room for the SYN the client's kernel sends again
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            relay(client, socket.create_connection(NGINX))

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        self.filler.close()


@pytest.fixture
def door():
    d = SlowDoor()
    yield d
    d.close()


def test_a_lost_syn_before_a_real_pull_is_named_though_no_step_shows_it(lab, door, start_mitm, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    registry = f"{lab.host('hub')}:{door.port}"
    mitm = start_mitm("slow-connect")
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(mitm.ca_cert, certs / "mitmproxy.crt")
    began = time.monotonic()
    subprocess.run(["skopeo", "inspect", "--cert-dir", str(certs), f"docker://{registry}/library/tiny"],
                   env=proxy_env(mitm.url), check=True, capture_output=True, timeout=120)
    took = time.monotonic() - began
    session = the_pull(mitm.trace())
    assert door.dropped >= 1, "the kernel dropped no SYN: the door's premise did not hold"
    # The wait happened before the first request to the door: no step's duration holds it.
    to_door = [s for s in session.steps if f":{door.port}/" in s.exchange.url]
    first = min(to_door, key=lambda s: s.exchange.started_at)
    split = time_split(first.exchange)
    assert (split.early_connect_ms or 0) >= 900, split
    assert max(s.exchange.duration_ms or 0 for s in session.steps) < 900
    assert took >= 1.0
    assert "speed.slow-connect" in speed_rules(session)
    (f,) = [f for f in session.findings if f.rule == "speed.slow-connect"]
    assert f.title.startswith(f"Opening a connection to {registry} took 1.")
    assert "before the request it carried" in f.cause and "lost SYN" in f.cause
    assert f.steps == [first.id]
