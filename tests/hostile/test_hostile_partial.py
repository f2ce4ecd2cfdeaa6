"""Garbage partial content: bytes resumed onto that are not the blob's are dropped and the blob
is fetched again from its first byte, not refused and not kept."""

from __future__ import annotations

import os

import pytest
from hostilehelpers import pull
from relay import Reply, Request

from pulltrace.model import load_trace

pytestmark = pytest.mark.lab


def _archive_layers(path) -> list[str]:
    import hashlib
    import json
    import tarfile

    with tarfile.open(path) as tar:
        [entry] = json.loads(tar.extractfile("manifest.json").read())
        return ["sha256:" + hashlib.sha256(tar.extractfile(n).read()).hexdigest() for n in entry["Layers"]]


def _blob_exchanges(trace_path, hex_: str) -> list:
    return [s.exchange for session in load_trace(trace_path).sessions for s in session.steps
            if hex_ in s.exchange.url and s.exchange.method == "GET" and s.exchange.status in (200, 206)]


def test_a_damaged_partial_file_in_the_cache_is_fetched_again_from_zero(lab, tmp_path, capsys):
    layer = lab.images["library/busybox"].layers[0]
    partial = tmp_path / "cache" / "sha256" / f"{layer.digest[7:]}.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(os.urandom(500_000))  # an earlier run's partial, damaged on disk
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}/library/busybox",
                          "--save-trace", str(tmp_path / "t.json"))
    assert code == 0, err
    assert _archive_layers(out) == [layer.digest]
    resumed, again = _blob_exchanges(tmp_path / "t.json", layer.digest[7:])
    assert (resumed.status, resumed.request_header("range")) == (206, "bytes=500000-")
    assert (again.status, again.request_header("range"), again.response_bytes) == (200, None, layer.size)
    assert not partial.exists()
    notes = load_trace(tmp_path / "t.json").notes
    assert any(n.startswith(f"blob {layer.digest[:19]}…: the bytes it resumed onto did not verify") for n in notes)


def test_garbage_answered_to_a_range_request_is_dropped_and_fetched_again(lab, relay, tmp_path, capsys):
    layer = lab.images["library/busybox"].layers[0]
    ranges: list[str | None] = []

    def cut_then_garbage(request: Request, forward) -> Reply:
        reply = forward(request)
        if layer.digest[7:] in request.path and request.method == "GET":
            ranges.append(request.header("range"))
            if len(ranges) == 1:
                reply.cut_after = 400_000  # the connection breaks mid-blob
            elif len(ranges) == 2 and reply.status == 206:
                reply.body = os.urandom(len(reply.body))  # the resumed range is garbage
        return reply

    cdn = relay("cdn", cut_then_garbage)
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}/library/busybox", "--jobs", "1",
                          "--blob-proxy", cdn.base(lab.host("cdn")))
    assert code == 0, err
    assert _archive_layers(out) == [layer.digest]
    assert ranges == [None, "bytes=400000-", None]
