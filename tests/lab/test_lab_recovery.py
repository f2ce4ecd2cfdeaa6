"""`lab up` after the lab's processes were killed without their shutdown, as when a session ends:
what CI meets on a machine where the lab ran before."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pulltrace.lab import images, ports, procs, slow

pytestmark = pytest.mark.lab


def _kill_tree(pid: int) -> None:
    tree = ports.pids_of_tree(pid)
    for member in tree:
        os.kill(member, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(not procs.exited(member) for member in tree):
        time.sleep(0.05)


def test_nginx_killed_with_sigkill_comes_back_though_its_socket_file_stayed(lab):
    pid = procs.read_pid(lab.paths.pidfile("nginx"))
    assert pid is not None
    socket_file = slow.origin_socket(lab.settings)
    _kill_tree(pid)
    assert socket_file.exists()  # nginx removes it only on an orderly exit

    lab.up(progress=lambda step: None)

    assert lab.probe(lab.endpoints["cdn"], timeout=2).healthy
    unthrottled = next(layer for n, layer in enumerate(lab.images["library/slow"].layers, 1) if n != images.SLOW_LAYER)
    hex_digest = unthrottled.digest.split(":", 1)[1]
    with lab.client() as client:  # edge. reaches its origin, throttle., through that very socket
        response = client.get(f"{lab.url('edge')}/docker/registry/v2/blobs/sha256/{hex_digest[:2]}/{hex_digest}/data")
    assert response.status_code == 200, response.text[:200]
    assert len(response.content) == unthrottled.size
