"""The mitmproxy addon under mitmproxy's own test harness (taddons, tflow)."""

import hashlib
import json
import logging
import threading
from pathlib import Path

import pytest
from addonflows import BLOB, DIGEST, blob_flow, flow, manifest_flow, stream_through
from mitmproxy import connection, exceptions
from mitmproxy.proxy import context, server_hooks
from mitmproxy.test import taddons, tflow
from mitmproxy.tls import TlsData

from pulltrace.capture import addon as addon_module
from pulltrace.capture import jsonl
from pulltrace.capture.addon import BlobHasher, PullTrace
from pulltrace.model import Trace, load_trace

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_background_ticks(monkeypatch):
    """Pulls close only when a test ticks the recorder (recorded exchanges are from 1970)."""
    monkeypatch.setattr(addon_module, "TICK_S", 3600.0)


def tick(pt: PullTrace, now: float) -> None:
    """One close-idle pass at `now`, on the recorder's own thread, after everything queued."""
    assert pt.thread.call(lambda: pt.recorder.tick(now)).wait(30)


def finished(pt: PullTrace, out: Path) -> Trace:
    """Stop the capture (as mitmproxy's shutdown does) and read back what it wrote."""
    pt.done()
    return jsonl.load_trace(out / "pulltrace.jsonl")


def test_options_are_declared_and_validated(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_outputs="json, har ,md,jsonl", pulltrace_dir=str(tmp_path),
                       pulltrace_preview=1024, pulltrace_show_secrets=True,
                       pulltrace_hosts="*.pulltrace.test, other")
        assert pt.outputs == ["json", "har", "md", "jsonl"]
        assert pt.hosts == ["*.pulltrace.test", "other"]
        assert pt.settings.directory == tmp_path
        with pytest.raises(exceptions.OptionsError, match="unknown output pdf"):
            tctx.configure(pt, pulltrace_outputs="json,pdf")
        with pytest.raises(exceptions.OptionsError, match="pulltrace_preview"):
            tctx.configure(pt, pulltrace_preview=-1)
        (tmp_path / "file").write_text("x")
        with pytest.raises(exceptions.OptionsError, match="not a directory"):
            tctx.configure(pt, pulltrace_dir=str(tmp_path / "file"))


def test_blob_is_streamed_counted_and_hashed_unchanged(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        pt.response(manifest_flow())
        f = blob_flow()
        assert stream_through(pt, f, BLOB) == BLOB
        (session,) = finished(pt, tmp_path).sessions  # the digest is read once the background hash is done
        ex = session.steps[-1].exchange
        assert (ex.response_bytes, ex.body_sha256) == (len(BLOB), DIGEST)
        assert ex.response_body_preview is None
        assert [s.kind.value for s in session.steps] == ["manifest", "config-blob"]
        assert all(fi.rule != "blob.digest-mismatch" for fi in session.findings)


def test_tampered_blob_becomes_a_digest_mismatch_finding(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        pt.response(manifest_flow())
        stream_through(pt, blob_flow(), BLOB[:-1] + b"!")
        (session,) = finished(pt, tmp_path).sessions
        assert [f.rule for f in session.findings if f.rule == "blob.digest-mismatch"] == ["blob.digest-mismatch"]


def test_stream_chains_to_a_callable_set_before_and_small_json_is_buffered():
    pt = PullTrace()
    with taddons.context(pt):
        f = blob_flow()
        f.response.stream = lambda chunk: chunk.upper()
        pt.responseheaders(f)
        assert f.response.stream(b"abc") == b"ABC"
        small = manifest_flow()
        pt.responseheaders(small)
        assert small.response.stream is False
        head = flow("/v2/library/tiny/manifests/latest", method="HEAD",
                    headers=[("Content-Type", "application/octet-stream")])
        pt.responseheaders(head)
        assert head.response.stream is False
        cdn = flow("/docker/registry/v2/blobs/sha256/aa/aaaa/data", host="cdn.pulltrace.test",
                   headers=[("Content-Type", "application/octet-stream"), ("Content-Length", "900000000")])
        pt.responseheaders(cdn)
        assert isinstance(cdn.response.stream, BlobHasher)


def test_pushed_blobs_are_streamed_upstream_not_held():
    pt = PullTrace()
    with taddons.context(pt):
        f = flow(f"/v2/library/tiny/blobs/uploads/1234?digest={DIGEST}", method="PUT")
        f.request.headers["Content-Type"] = "application/octet-stream"
        f.request.headers["Content-Length"] = str(50 * 2**20)
        pt.requestheaders(f)
        assert f.request.stream is True
        token = flow("/token?scope=repository%3Aa%3Apull", method="POST", host="auth.pulltrace.test")
        token.request.headers["Content-Type"] = "application/x-www-form-urlencoded"
        token.request.headers["Content-Length"] = "80"
        pt.requestheaders(token)
        assert token.request.stream is False  # a small form is kept: it says which grant was used


def test_hasher_without_end_of_body_gives_no_digest():
    h = BlobHasher()
    assert h(b"abc") == b"abc"
    assert h.digest(timeout=0.1) is None and h.bytes == 3
    h(b"")
    assert h.digest() == "sha256:" + hashlib.sha256(b"abc").hexdigest()


def test_hasher_keeps_chunk_order_when_the_worker_falls_behind(monkeypatch):
    monkeypatch.setattr(addon_module._HashWorker, "MAX_QUEUED", 0)  # every chunk takes the inline path
    h = BlobHasher()
    for i in range(0, len(BLOB), 333):
        h(BLOB[i : i + 333])
    h(b"")
    assert h.digest() == DIGEST


def test_an_exception_in_a_hook_is_logged_once_and_leaves_the_flow_untouched(monkeypatch, caplog):
    pt = PullTrace()
    with taddons.context(pt):
        def boom(*a, **k):
            raise RuntimeError("pulltrace bug")

        monkeypatch.setattr(pt, "should_stream", boom)
        monkeypatch.setattr(addon_module, "flow_to_exchange", boom)
        f = blob_flow()
        before = f.get_state()
        caplog.set_level(logging.ERROR, logger="pulltrace")
        assert pt.responseheaders(f) is None
        assert pt.response(f) is None
        assert pt.response(blob_flow()) is None
        assert f.get_state() == before
        assert f.response.stream is False
        messages = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert len(messages) == 2  # responseheaders once, response once (not twice)
        assert pt.thread.queue.qsize() == 0 and pt.thread.stats.exchanges == 0


def test_host_filter_keeps_downloads_that_follow_a_recorded_redirect(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_hosts="hub.pulltrace.test", pulltrace_dir=str(tmp_path),
                       pulltrace_outputs="jsonl")
        pt.response(flow("/v2/", status=401, host="elsewhere.test"))
        redirect = flow(f"/v2/library/tiny/blobs/{DIGEST}", status=307,
                        headers=[("Location", "https://cdn.pulltrace.test/data?sig=1"), ("Content-Length", "0")])
        pt.responseheaders(redirect)
        pt.response(redirect)
        cdn = flow("/data?sig=1", host="cdn.pulltrace.test",
                   headers=[("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BLOB)))])
        cdn.response.content = None
        stream_through(pt, cdn, BLOB)
        (session,) = finished(pt, tmp_path).sessions
        assert [s.kind.value for s in session.steps] == ["blob-redirect", "cdn-download"]


def test_reports_on_done_and_on_save_are_read_back_from_the_jsonl(tmp_path):
    out = tmp_path / "out"
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(out), pulltrace_outputs="jsonl,json,har", pulltrace_idle=3)
        pt.done()  # nothing captured: nothing written
        assert not out.exists()
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(out), pulltrace_outputs="jsonl,json,har", pulltrace_idle=3)
        pt.response(flow("/v2/", status=401, headers=[
            ("WWW-Authenticate", 'Bearer realm="https://auth.pulltrace.test/token",service="hub"')]))
        pt.response(manifest_flow(1000.5))
        stream_through(pt, blob_flow(1001.0), BLOB)
        tick(pt, 1003.5)  # complete (every blob of its manifest arrived) and quiet for the grace
        pt.response(manifest_flow(1100.0, repo="library/other"))  # a second pull, still open
        tctx.command(pt.save)
        assert pt.thread.flush()
        saved = load_trace(out / "pulltrace.json")
        assert [s.summary.image for s in saved.sessions] == ["hub.pulltrace.test/library/tiny:latest"]
        pt.done()
        lines = (out / "pulltrace.jsonl").read_text().splitlines()
        header = json.loads(lines[0])
        assert (header["schema"], header["version"], header["trace_version"]) == ("pulltrace-jsonl", 1, 2)
        assert [json.loads(line)["summary"]["image"] for line in lines[1:]] == [
            "hub.pulltrace.test/library/tiny:latest", "hub.pulltrace.test/library/other:latest"]
        trace = load_trace(out / "pulltrace.json")
        assert trace.to_dict()["sessions"] == jsonl.load_trace(out / "pulltrace.jsonl").to_dict()["sessions"]
        assert [s.kind.value for s in trace.sessions[0].steps] == ["ping", "manifest", "config-blob"]
        assert trace.created_at == 1100.02  # the last exchange's end, as build_trace dates a trace
        har = json.loads((out / "pulltrace.har").read_text())
        assert len(har["log"]["entries"]) == 4


def test_reports_without_the_jsonl_output_spool_through_a_file_removed_on_exit(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="json")
        pt.response(manifest_flow())
        stream_through(pt, blob_flow(), BLOB)
        tick(pt, 1003.5)
        assert (tmp_path / ".pulltrace.spool.jsonl").exists()  # the closed pull left memory for the disk
        pt.done()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["pulltrace.json"]
        assert len(load_trace(tmp_path / "pulltrace.json").sessions) == 1


def test_console_table_is_printed_once_when_a_pull_completes_with_the_reports_number(caplog, tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_outputs="console,jsonl", pulltrace_idle=3600, pulltrace_dir=str(tmp_path))
        caplog.set_level(logging.INFO, logger="pulltrace")
        pt.response(manifest_flow(1000.0, repo="library/first"))
        stream_through(pt, blob_flow(1000.5, repo="library/first"), BLOB)
        pt.response(manifest_flow(1001.0))
        tick(pt, 1002.6)  # the first pull is complete and was quiet for the grace
        assert ["library/first" in r.getMessage() for r in caplog.records if "Session" in r.getMessage()] == [True]
        stream_through(pt, blob_flow(), BLOB)
        tick(pt, 1003.6)
        tick(pt, 1003.7)
        tables = [r.getMessage() for r in caplog.records if "hub.pulltrace.test/library/tiny:latest" in r.getMessage()]
        assert len(tables) == 1
        heading = tables[0].splitlines()[0]
        # The second pull to close is session 2 in the report read back from the jsonl too.
        assert heading.startswith("Session 2: ")
        trace = finished(pt, tmp_path)
        assert [s.summary.image for s in trace.sessions][1] == "hub.pulltrace.test/library/tiny:latest"
        from pulltrace.render.text import render_text

        assert "Session 2: " + heading[len("Session 2: "):] in render_text(trace)


def test_the_event_loop_never_waits_for_a_busy_recorder(tmp_path):
    """While the recorder's thread is stuck (a slow disk), hooks still return, and past the
    backlog limit exchanges are dropped and counted instead of blocking the proxy."""
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        pt.thread.queue.maxsize = 50
        held, release = threading.Event(), threading.Event()
        pt.thread.call(lambda: (held.set(), release.wait(60)))
        assert held.wait(30)
        for n in range(80):
            pt.response(manifest_flow(1000.0 + n, repo=f"library/r{n}"))
        assert not release.is_set()  # every hook above returned while the thread was held
        assert pt.thread.stats.dropped == 80 - 50
        release.set()
        trace = finished(pt, tmp_path)
        assert len(trace.sessions) == 50


def test_what_the_addon_keeps_does_not_grow_with_the_capture(tmp_path, monkeypatch):
    monkeypatch.setattr(addon_module, "RECENT", 16)
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl", pulltrace_idle=3)
        for n in range(200):
            t = 1000.0 + 10 * n
            redirect = flow(f"/v2/library/tiny/blobs/{DIGEST}", status=307, t=t,
                            headers=[("Location", f"https://cdn.pulltrace.test/data?n={n}"), ("Content-Length", "0")])
            pt.response(manifest_flow(t - 0.5))
            pt.response(redirect)
            tick(pt, t + 5)
        assert pt.thread.flush()
        assert pt.recorder.engine.open_sessions == 0 and not pt.held and not pt.hashers and not pt.live
        assert (len(pt.followed), len(pt.seen_servers)) == (16, 16)
        assert pt.recorder.closed == 200
        pt.done()
        assert len((tmp_path / "pulltrace.jsonl").read_text().splitlines()) == 201


# -- connections that never carried an HTTP flow --------------------------------------

def _client(peer=("10.0.0.7", 51000), **kw) -> connection.Client:
    c = tflow.tclient_conn()
    c.peername = peer
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def _server(address, **kw) -> connection.Server:
    s = connection.Server(address=address)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_an_unreachable_upstream_becomes_a_connect_step(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        server = _server(("plain.pulltrace.test", 5001), timestamp_start=1000.0,
                         error="Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5001)")
        pt.server_connect_error(server_hooks.ServerConnectionHookData(server=server, client=_client()))
        (session,) = finished(pt, tmp_path).sessions
        (step,) = session.steps
        ex = step.exchange
        assert (ex.method, ex.url, ex.status, ex.client) == (
            "CONNECT", "https://plain.pulltrace.test:5001/", None, "10.0.0.7:51000")
        assert ex.error == "connect: Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5001)"


def test_a_tunnel_that_cannot_connect_is_recorded_at_once_and_a_held_failure_when_its_client_leaves(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        tunnel_client, other = _client(), _client(peer=("10.0.0.9", 2))
        connect = tflow.tflow()
        connect.client_conn = tunnel_client
        pt.http_connect(connect)  # dockerd's CONNECT: mitmproxy connects upstream before answering
        server = _server(("plain.pulltrace.test", 5999), timestamp_start=1000.0, error="Connect call failed")
        pt.server_connect_error(server_hooks.ServerConnectionHookData(server=server, client=tunnel_client))
        pt.http_connect_error(connect)
        assert pt.thread.flush() and pt.thread.stats.exchanges == 1  # no flow will report it: recorded now
        upstream = _server(("plain.pulltrace.test", 5000), timestamp_start=1001.0, error="does not speak TLS")
        pt.tls_failed_server(TlsData(upstream, context.Context(other, tctx.options)))
        assert pt.thread.flush() and pt.thread.stats.exchanges == 1  # a request may yet report it
        pt.client_disconnected(other)
        assert pt.thread.flush() and pt.thread.stats.exchanges == 2
        assert not pt.held and not pt.tunnels
        pt.done()


def test_a_connect_failure_an_http_flow_also_reports_is_one_step(tmp_path):
    """Plain http:// through the proxy: mitmproxy fires server_connect_error, then error() on
    the request that waited; the request (method, path, headers) is the step kept."""
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        client = _client()
        server = _server(("plain.pulltrace.test", 5001), timestamp_start=1000.0, error="Connect call failed")
        pt.server_connect_error(server_hooks.ServerConnectionHookData(server=server, client=client))
        f = flow("/v2/", host="plain.pulltrace.test", t=1000.0)
        f.request.scheme, f.request.port = "http", 5001
        f.client_conn = client
        f.response = None
        f.error = tflow.terr("Connect call failed")
        pt.error(f)
        (session,) = finished(pt, tmp_path).sessions
        assert [(s.exchange.method, s.exchange.url, s.exchange.error) for s in session.steps] == [
            ("GET", "http://plain.pulltrace.test:5001/v2/", "Connect call failed")]


def test_a_client_that_rejects_the_proxys_certificate_says_so(tmp_path, caplog):
    pt = PullTrace()
    caplog.set_level(logging.INFO, logger="pulltrace")
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="console,jsonl")
        message = ("The client does not trust the proxy's certificate for hub.pulltrace.test "
                   "(sslv3 alert bad certificate)")
        client = _client(sni="hub.pulltrace.test", error=message, timestamp_start=1000.0)
        ctx_ = context.Context(client, tctx.options)
        ctx_.server = _server(("hub.pulltrace.test", 443))
        pt.tls_failed_client(TlsData(client, ctx_))
        server = _server(("plain.pulltrace.test", 5000), sni="plain.pulltrace.test", timestamp_start=1001.0,
                         timestamp_tcp_setup=1001.001, error="[('SSL routines', '', 'wrong version number')]")
        ctx2 = context.Context(_client(peer=("10.0.0.8", 1)), tctx.options)
        ctx2.server = server
        pt.tls_failed_server(TlsData(server, ctx2))
        steps = [s for session in finished(pt, tmp_path).sessions for s in session.steps]
        assert [(s.exchange.method, s.exchange.url, s.exchange.status, s.exchange.error) for s in steps] == [
            ("CONNECT", "https://hub.pulltrace.test:443/", None, f"client rejected the proxy's certificate: {message}"),
            ("CONNECT", "https://plain.pulltrace.test:5000/", None,
             "tls: [('SSL routines', '', 'wrong version number')]"),
        ]
        # Printed though no pull is around it: the user must see why the client got nowhere.
        (table,) = [m for m in caplog.messages if m.startswith("Session 1: ")]
        assert "CONNECT /: client rejected the prox" in table  # the 80-column table cuts the rest


def test_connection_failures_to_hosts_outside_the_filter_are_not_recorded(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl", pulltrace_hosts="*.pulltrace.test")
        server = _server(("example.org", 443), error="refused")
        pt.server_connect_error(server_hooks.ServerConnectionHookData(server=server, client=_client()))
        pt.done()
        assert not (tmp_path / "pulltrace.jsonl").exists()


@pytest.mark.parametrize("path", [ROOT / "addons" / "pulltrace.py", ROOT / "pulltrace" / "capture" / "script.py"])
def test_script_files_load_the_addon(path):
    with taddons.context() as tctx:
        module = tctx.script(str(path))
        assert [type(a).__name__ for a in module.addons] == ["PullTrace"]


# -- names in mitmproxy's own UI (comment, mark, metadata) ----------------------------

def test_a_closed_pull_names_its_flows_and_marks_the_failed_one(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        ping = flow("/v2/", status=401, t=999.0, headers=[
            ("WWW-Authenticate", 'Bearer realm="https://auth.pulltrace.test/token",service="hub"')])
        manifest = manifest_flow()
        blob = blob_flow()
        missing = flow("/v2/library/tiny/blobs/sha256:" + "0" * 64, status=404, t=1001.5)
        for f in (ping, manifest):
            pt.response(f)
        stream_through(pt, blob, BLOB)
        pt.response(missing)
        pt.done()
        assert manifest.comment == "#2 manifest · pull 1 hub.pulltrace.test/library/tiny:latest"
        assert blob.comment == "#3 config blob · config · pull 1 hub.pulltrace.test/library/tiny:latest"
        assert (ping.marked, manifest.marked, blob.marked, missing.marked) == ("", "", "", ":exclamation:")
        assert blob.metadata["pulltrace"] == {
            "kind": "config-blob", "step": 3, "pull": 1, "session": "s1", "action": "pull",
            "image": "hub.pulltrace.test/library/tiny:latest", "role": "config",
            "links": [{"rel": "blob-of", "target": manifest.id}]}
        assert not pt.live  # nothing kept once named


def test_names_are_handed_back_to_the_event_loop_not_set_from_the_recorders_thread(tmp_path):
    import asyncio

    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        loop = asyncio.new_event_loop()
        try:
            pt.loop = loop
            f = manifest_flow()
            pt.response(f)
            stream_through(pt, blob_flow(), BLOB)
            tick(pt, 1003.5)
            assert f.comment == ""  # the recorder only scheduled it
            loop.run_until_complete(asyncio.sleep(0))
            assert f.comment.startswith("#1 manifest · pull 1 ")
        finally:
            loop.close()
        pt.done()


TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImFjY2VzcyI6W119.c2lnbmF0dXJlc2lnbmF0dXJl"


@pytest.mark.parametrize("show", [False, True])
def test_every_output_is_masked_unless_secrets_are_asked_for(tmp_path, caplog, show):
    pt = PullTrace()
    caplog.set_level(logging.INFO, logger="pulltrace")
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="console,jsonl,json",
                       pulltrace_show_secrets=show)
        f = manifest_flow()
        f.request.headers["Authorization"] = f"Bearer {TOKEN}"
        pt.response(f)
        pt.done()
        written = [(tmp_path / name).read_text() for name in ("pulltrace.jsonl", "pulltrace.json")]
        console = "\n".join(caplog.messages)
        assert [TOKEN in text for text in written] == [show, show]
        assert TOKEN not in console  # the narrow table shows no header values either way


def test_hostile_responses_do_not_cost_the_other_pulls_their_outputs(tmp_path):
    out = tmp_path / "out"
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(out), pulltrace_outputs="jsonl,json,html,md,text,har")
        # A registry answering with JSON nested 1,200 deep, a Location no URL parser accepts and
        # control bytes meant for the terminal, for another repository.
        deep = "{" + '"a":{' * 1200 + "}" * 1201
        pt.response(flow("/v2/evil/app/manifests/latest", status=404, content=deep.encode(),
                         headers=[("Content-Type", "application/json")], t=999.0))
        pt.response(flow(f"/v2/evil/app/blobs/{DIGEST}", status=307, t=999.2,
                         headers=[("Location", "https://[bad"), ("X-Note", "\x1b[2J\x07")]))
        pt.response(manifest_flow(1000.5))
        stream_through(pt, blob_flow(1001.0), BLOB)
        trace = finished(pt, out)
    images = [s.summary.image for s in trace.sessions]
    assert "hub.pulltrace.test/library/tiny:latest" in images
    # The hostile exchanges are steps too, not lost.
    urls = [st.exchange.url for s in trace.sessions for st in s.steps]
    assert sum("/v2/evil/app/" in u for u in urls) == 2
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "pulltrace.har", "pulltrace.html", "pulltrace.json", "pulltrace.jsonl", "pulltrace.md", "pulltrace.txt"]
    assert "\x1b" not in (out / "pulltrace.txt").read_text()
    assert not pt.failed_hooks


def test_an_inline_hasher_gives_the_digest_of_what_it_passed_on_and_none_before_the_end():
    h = BlobHasher(inline=True)
    passed = b"".join(h(BLOB[i : i + 333]) for i in range(0, len(BLOB), 333))
    assert passed == BLOB and h.digest(timeout=0.1) is None and h.bytes == len(BLOB)
    h(b"")
    assert h.digest(timeout=0) == DIGEST


def test_a_small_blob_is_hashed_inline_and_a_large_one_on_the_hash_thread():
    pt = PullTrace()
    with taddons.context(pt):
        for size, inline in ((1024, True), (addon_module.INLINE_HASH_BYTES + 1, False)):
            f = tflow.tflow(resp=True)
            f.request.url = f"https://hub.pulltrace.test/v2/library/tiny/blobs/{DIGEST}"
            f.response.headers["content-length"] = str(size)
            f.response.stream = False
            pt.responseheaders(f)
            assert isinstance(f.response.stream, BlobHasher) and f.response.stream.inline is inline
