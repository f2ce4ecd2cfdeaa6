"""The addon with its recorder in pulltrace's worker process (the default), under mitmproxy's
test harness: a real child process, real pipes; what a user reads is what the in-process
recorder writes, and losing the worker loses nothing else of the capture."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from addonflows import BLOB, blob_flow, flow, manifest_flow, stream_through
from mitmproxy.test import taddons

from pulltrace.capture import jsonl, offload, worker
from pulltrace.capture.addon import PullTrace
from pulltrace.capture.flows import flow_to_exchange
from pulltrace.capture.frames import FrameWriter, read_frame
from pulltrace.capture.offload import WorkerProcess
from pulltrace.capture.outputs import Settings
from pulltrace.model import load_trace


def _pull(pt: PullTrace, t: float, repo: str = "library/tiny"):
    """Challenge, manifest, blob: one complete pull, recorded at `t` (long past: it closes at
    the worker's first tick)."""
    pt.response(flow("/v2/", status=401, t=t, headers=[
        ("WWW-Authenticate", 'Bearer realm="https://auth.pulltrace.test/token",service="hub"')]))
    manifest = manifest_flow(t + 0.5, repo=repo)
    pt.response(manifest)
    stream_through(pt, blob_flow(t + 1.0, repo=repo), BLOB)
    return manifest


def _until(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_the_worker_process_records_names_prints_and_writes(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pulltrace")
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="console,jsonl,json", pulltrace_worker=True)
        manifest = _pull(pt, 1000.0)
        assert isinstance(pt.thread, WorkerProcess)
        # The name comes back from the other process once the pull closed there.
        assert _until(lambda: manifest.comment.startswith("#2 manifest · pull 1 "))
        assert pt.thread.proc is not None and pt.thread.proc.pid != os.getpid()
        # Nobody waits for it: on a busy machine the proxy comes first.
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pt.thread.proc.pid) == min(19, ours + worker.NICE)
        pt.save()  # the pulltrace.save command, mid-capture: the worker writes the reports
        assert _until(lambda: (tmp_path / "pulltrace.json").exists())
        assert [s.summary.image for s in load_trace(tmp_path / "pulltrace.json").sessions] == [
            "hub.pulltrace.test/library/tiny:latest"]
        pt.done()
    assert pt.recorder.closed == 0  # this process grouped nothing
    [session] = jsonl.load_trace(tmp_path / "pulltrace.jsonl").sessions
    assert [s.kind for s in session.steps] == ["ping", "manifest", "config-blob"]
    assert load_trace(tmp_path / "pulltrace.json").sessions[0].summary.image == session.summary.image
    tables = [m for m in caplog.messages if m.startswith("Session 1: ")]
    assert len(tables) == 1 and "library/tiny" in tables[0]
    assert any(m.startswith("pulltrace: 3 exchanges, 1 pulls;") for m in caplog.messages)
    assert pt.thread.proc.returncode == 0


def test_a_worker_that_dies_mid_capture_hands_over_and_the_file_goes_on(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pulltrace")
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl,json", pulltrace_worker=True)
        first = _pull(pt, 1000.0)
        assert _until(lambda: first.comment.startswith("#2 manifest · pull 1 "))
        os.kill(pt.thread.proc.pid, signal.SIGKILL)  # the OOM killer, say
        pt.thread.proc.wait(10)
        second = _pull(pt, 2000.0, repo="library/other")
        pt.done()
    # Pull 2 was recorded in this process, numbered after the worker's pull 1, in the same file.
    assert second.comment.startswith("#2 manifest · pull 2 ")
    lines = (tmp_path / "pulltrace.jsonl").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith('{"schema":"pulltrace-jsonl"')
    images = [s.summary.image for s in load_trace(tmp_path / "pulltrace.json").sessions]
    assert images == ["hub.pulltrace.test/library/tiny:latest", "hub.pulltrace.test/library/other:latest"]
    lost = [m for m in caplog.messages if "worker process" in m]
    assert len(lost) == 1 and "recording goes on in the proxy's process" in lost[0]


def test_a_worker_that_cannot_start_leaves_the_recording_to_the_proxys_process(tmp_path, caplog, monkeypatch):
    # A frozen mitmproxy binary: its interpreter cannot run `-m pulltrace.capture.worker`.
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    monkeypatch.setattr(offload, "worker_command", lambda: (failing, dict(os.environ)))
    caplog.set_level(logging.INFO, logger="pulltrace")
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl", pulltrace_worker=True)
        manifest = _pull(pt, 1000.0)
        pt.done()
    assert manifest.comment.startswith("#2 manifest · pull 1 ")
    assert len(jsonl.load_trace(tmp_path / "pulltrace.jsonl").sessions) == 1
    assert [m for m in caplog.messages if "worker process" in m] == [
        "pulltrace: its worker process did not start; recording goes on in the proxy's process"]


def test_a_worker_whose_proxy_died_still_writes_the_pulls_it_holds(tmp_path):
    """mitmdump killed with SIGKILL: the worker's stdin ends, and it closes and writes what it has."""
    argv, env = offload.worker_command()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    assert read_frame(proc.stdout) == ("ready", proc.pid)
    out = FrameWriter(proc.stdin)
    settings = Settings(tmp_path, ("jsonl", "json"), 3600.0)  # nothing goes quiet before the end
    out.send(("start", settings, 1000.0, 3600.0, False))
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_preview=4096)
        exchanges = [flow_to_exchange(f, show_secrets=False, preview_limit=4096)
                     for f in (manifest_flow(1000.5), blob_flow(1001.0))]
    out.send(("exchanges", exchanges))
    proc.stdin.close()
    messages = []
    while (message := read_frame(proc.stdout)) is not None:
        messages.append(message)
    assert proc.wait(30) == 0
    assert [m[0] for m in messages] == ["names", "done"]
    _, _stats, pulls, written = messages[-1]
    assert pulls == 1 and written == [str(tmp_path / "pulltrace.jsonl"), str(tmp_path / "pulltrace.json")]
    [session] = load_trace(tmp_path / "pulltrace.json").sessions
    assert session.summary.image == "hub.pulltrace.test/library/tiny:latest"


@pytest.mark.parametrize("cut", [0, 2, 4, 9])
def test_a_frame_cut_short_reads_as_the_end(tmp_path, cut):
    path = tmp_path / "frames"
    with path.open("wb") as f:
        FrameWriter(f).send(("log", 20, "a line"))
    whole = path.read_bytes()
    path.write_bytes(whole + whole[:cut])
    with path.open("rb") as f:
        assert read_frame(f) == ("log", 20, "a line")
        assert read_frame(f) is None


def test_many_pulls_from_several_clients_arrive_whole_and_in_order(tmp_path):
    """Batches, the pipe and the worker's queue lose nothing and keep each client's order."""
    pt = PullTrace()
    clients = [("10.0.0.1", 40001), ("10.0.0.2", 40002), ("10.0.0.3", 40003)]
    manifests = []
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl", pulltrace_worker=True)
        for n in range(100):
            for c, peer in enumerate(clients):
                t = 1000.0 + 10 * n + c
                for f in (manifest_flow(t, repo=f"team/app{c}"), blob_flow(t + 0.5, repo=f"team/app{c}")):
                    f.client_conn.peername = peer
                    if f.request.path.endswith("/manifests/latest"):
                        pt.response(f)
                        manifests.append(f)
                    else:
                        stream_through(pt, f, BLOB)
        pt.done()
    sessions = jsonl.load_trace(tmp_path / "pulltrace.jsonl").sessions
    assert len(sessions) == 300
    assert all([s.kind for s in session.steps] == ["manifest", "config-blob"] for session in sessions)
    by_client = {peer[0]: [s.steps[0].exchange.started_at for s in sessions
                           if s.steps[0].exchange.client.startswith(peer[0])] for peer in clients}
    assert {client: len(starts) for client, starts in by_client.items()} == {p[0]: 100 for p in clients}
    assert all(starts == sorted(starts) for starts in by_client.values())
    assert all(f.comment.startswith("#1 manifest · pull ") for f in manifests)  # every flow named


TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImFjY2VzcyI6W119.c2lnbmF0dXJlc2lnbmF0dXJl"


def _with_token(f):
    f.request.headers["Authorization"] = f"Bearer {TOKEN}"
    return f


@pytest.mark.parametrize("show", [False, True])
def test_the_worker_masks_what_it_is_sent_unless_secrets_are_asked_for(tmp_path, caplog, show):
    """Exchanges cross to the worker raw (masking is work the proxy's process no longer does);
    every output still holds the token only when the user asked for it."""
    caplog.set_level(logging.INFO, logger="pulltrace")
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="console,jsonl,json",
                       pulltrace_show_secrets=show, pulltrace_worker=True)
        pt.response(_with_token(manifest_flow()))
        pt.done()
    written = [(tmp_path / name).read_text() for name in ("pulltrace.jsonl", "pulltrace.json")]
    assert [TOKEN in text for text in written] == [show, show]
    assert TOKEN not in "\n".join(caplog.messages)
    [session] = load_trace(tmp_path / "pulltrace.json").sessions
    assert session.steps[0].exchange.secrets_masked is not show


def test_what_the_proxys_process_records_after_the_worker_died_is_masked_too(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl", pulltrace_worker=True)
        first = _pull(pt, 1000.0)
        assert _until(lambda: first.comment.startswith("#2 manifest · pull 1 "))
        os.kill(pt.thread.proc.pid, signal.SIGKILL)
        pt.thread.proc.wait(10)
        pt.response(_with_token(manifest_flow(2000.0, repo="library/other")))
        pt.done()
    text = (tmp_path / "pulltrace.jsonl").read_text()
    assert "library/other" in text and TOKEN not in text
