"""Faults on a real network path: a relay in front of the real lab servers cuts, slows or
corrupts the bytes; the pull must resume, renew, refuse or stop cleanly."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from clienthelpers import Relay, archive_digests, pulltrace_cmd, steps

from pulltrace.commands.main import main
from pulltrace.model import load_trace

pytestmark = pytest.mark.lab


def tls_target(lab) -> tuple[str, int]:
    return ("127.0.0.1", httpx.URL(lab.url("cdn")).port or 443)


def cdn_via(lab, relay: Relay) -> str:
    return f"https://{lab.host('cdn')}:{relay.port}"


def test_connection_cut_mid_blob_is_resumed_with_range(lab, tmp_path):
    info = lab.images["library/busybox"]
    assert info.layers[0].size > 600_000
    with Relay(tls_target(lab), cut_after=400_000) as relay:
        out, trace_path = tmp_path / "bb.tar", tmp_path / "t.json"
        code = main(["pull", f"{lab.host('hub')}/library/busybox", "-q", "-o", str(out), "--cache",
                     str(tmp_path / "c"), "--save-trace", str(trace_path), "--blob-proxy", cdn_via(lab, relay),
                     "--jobs", "1"])
        assert relay.cuts_done == 1
    assert code == 0
    config, layers = archive_digests(out)
    assert config == info.config_digest and layers == [info.layers[0].digest]
    layer_hex = info.layers[0].digest.split(":")[1]
    cdn = [s.exchange for s in steps(load_trace(trace_path)) if f":{relay.port}/" in s.exchange.url
           and layer_hex in s.exchange.url]
    assert len(cdn) == 2
    broken, resumed = cdn
    assert broken.error and broken.response_bytes and broken.response_bytes < info.layers[0].size
    assert resumed.status == 206
    assert resumed.request_header("range") == f"bytes={broken.response_bytes}-"
    assert resumed.response_bytes == info.layers[0].size - broken.response_bytes


def test_short_lived_token_is_renewed_during_a_slow_pull(lab, tmp_path):
    """brief/brief-pass tokens live 4 s (the lab back-dates exp past distribution's leeway);
    docker's 60 s floor keeps using them, the registry says 401, the client renews."""
    info = lab.images["library/three"]
    with Relay(tls_target(lab), rate=400) as relay:
        out, trace_path = tmp_path / "three.tar", tmp_path / "t.json"
        code = main(["pull", f"{lab.host('hub')}/library/three", "-q", "-o", str(out), "-u", "brief",
                     "-p", "brief-pass", "--cache", str(tmp_path / "c"), "--save-trace", str(trace_path),
                     "--blob-proxy", cdn_via(lab, relay), "--jobs", "1"])
    assert code == 0
    assert archive_digests(out) == (info.config_digest, [layer.digest for layer in info.layers])
    exchanges = [s.exchange for s in steps(load_trace(trace_path))]
    token_requests = [i for i, ex in enumerate(exchanges) if ex.url.startswith(lab.url("auth"))]
    assert len(token_requests) >= 2
    # Between the first and the renewed token: the registry refused the expired one.
    refused = [ex for ex in exchanges[token_requests[0] + 1: token_requests[1]]
               if ex.status == 401 and "/blobs/" in ex.url]
    assert refused and "invalid_token" in (refused[-1].response_header("www-authenticate") or "")
    after = exchanges[token_requests[1] + 1]
    assert after.url == refused[-1].url and after.status == 307


def test_corrupted_bytes_are_rejected_and_nothing_is_written(lab, tmp_path, capsys):
    plain = httpx.URL(lab.url("plain"))
    with Relay(("127.0.0.1", plain.port), flip_after=10) as relay:
        out = tmp_path / "tiny.tar"
        code = main(["pull", f"{plain.host}:{plain.port}/library/tiny", "-q", "-o", str(out), "--cache",
                     str(tmp_path / "c"), "--registry-proxy", f"http://{plain.host}:{relay.port}"])
        assert relay.flipped == 1
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("pulltrace: blob sha256:") and "arrived corrupt" in err and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".tiny.tar*"))
    cached = list((tmp_path / "c" / "sha256").iterdir())
    assert all(hashlib_ok(p) for p in cached)


def hashlib_ok(path: Path) -> bool:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def test_ctrl_c_mid_download_leaves_no_partial_output(lab, tmp_path):
    with Relay(tls_target(lab), rate=150_000) as relay:
        out = tmp_path / "bb.tar"
        proc = subprocess.Popen(
            pulltrace_cmd("pull", f"{lab.host('hub')}/library/busybox", "-q", "-o", str(out), "--cache",
                          str(tmp_path / "c"), "--blob-proxy", cdn_via(lab, relay)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        partial = tmp_path / "c" / "sha256" / (lab.images["library/busybox"].layers[0].digest[7:] + ".partial")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (partial.exists() and partial.stat().st_size > 50_000):
            time.sleep(0.05)
        assert partial.exists(), "the download never started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip() == "pulltrace: interrupted"
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c"]
    # What arrived stays in the cache, for the next run to resume.
    assert partial.exists() and partial.stat().st_size > 0
    # The next run resumes it with a Range request instead of starting again.
    trace_path = tmp_path / "t.json"
    assert main(["pull", f"{lab.host('hub')}/library/busybox", "-q", "-o", str(out), "--cache",
                 str(tmp_path / "c"), "--save-trace", str(trace_path)]) == 0
    layer = lab.images["library/busybox"].layers[0]
    assert archive_digests(out)[1] == [layer.digest]
    ranged = [s.exchange for s in steps(load_trace(trace_path)) if s.exchange.request_header("range")]
    assert ranged and ranged[-1].status == 206


def test_503_and_429_are_retried_with_backoff_and_retry_after(lab, tmp_path):
    plain = httpx.URL(lab.url("plain"))
    busy = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    limited = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    with Relay(("127.0.0.1", plain.port), answers=[busy, limited]) as relay:
        out, trace_path = tmp_path / "tiny.tar", tmp_path / "t.json"
        started = time.monotonic()
        code = main(["pull", f"{plain.host}:{plain.port}/library/tiny", "-q", "-o", str(out), "--cache",
                     str(tmp_path / "c"), "--save-trace", str(trace_path),
                     "--registry-proxy", f"http://{plain.host}:{relay.port}"])
        elapsed = time.monotonic() - started
    assert code == 0
    assert archive_digests(out)[0] == lab.images["library/tiny"].config_digest
    statuses = [s.exchange.status for s in steps(load_trace(trace_path))]
    assert statuses[:3] == [503, 429, 200]  # the ping, twice refused, then answered
    assert elapsed >= 2.0  # Retry-After was waited for
