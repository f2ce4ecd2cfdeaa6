"""The mitmproxy addon under mitmproxy's own test harness (taddons, tflow)."""

import hashlib
import json
import logging
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow, tutils

from pulltrace.capture import addon as addon_module
from pulltrace.capture.addon import BlobHasher, PullTrace
from pulltrace.model import Trace, load_trace

ROOT = Path(__file__).resolve().parents[3]
BLOB = b"0123456789" * 1000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
REGISTRY = "hub.pulltrace.test"


def flow(path: str, *, method: str = "GET", status: int = 200, headers=(), content: bytes | None = b"",
         host: str = REGISTRY, req_headers=(), t: float = 1000.0) -> http.HTTPFlow:
    req = tutils.treq(host=host, port=443, scheme=b"https", method=method.encode(), path=path.encode(),
                      headers=http.Headers([(k.encode(), v.encode()) for k, v in req_headers]),
                      content=b"", timestamp_start=t, timestamp_end=t + 0.001)
    resp = tutils.tresp(status_code=status, reason=b"OK",
                        headers=http.Headers([(k.encode(), v.encode()) for k, v in headers]),
                        content=content, timestamp_start=t + 0.01, timestamp_end=t + 0.02)
    f = tflow.tflow(req=req, resp=resp)
    return f


def manifest_flow(t: float = 1000.0) -> http.HTTPFlow:
    body = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(BLOB),
                   "digest": DIGEST},
        "layers": [],
    }).encode()
    return flow("/v2/library/tiny/manifests/latest", content=body, t=t,
                headers=[("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
                         ("Content-Length", str(len(body)))])


def blob_flow(t: float = 1001.0, digest: str = DIGEST) -> http.HTTPFlow:
    f = flow(f"/v2/library/tiny/blobs/{digest}", t=t,
             headers=[("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BLOB)))])
    f.response.content = None  # a streamed body never lands in the flow
    return f


def stream_through(pt: PullTrace, f: http.HTTPFlow, body: bytes, chunk: int = 4096) -> bytes:
    """What mitmproxy does with a streamed response: every chunk, then b"" at the end."""
    pt.responseheaders(f)
    assert callable(f.response.stream)
    out = b""
    for i in range(0, len(body), chunk):
        out += f.response.stream(body[i : i + chunk])
    out += f.response.stream(b"")
    pt.response(f)
    return out


def test_options_are_declared_and_validated(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_outputs="json, har ,md", pulltrace_dir=str(tmp_path), pulltrace_preview=1024,
                       pulltrace_show_secrets=True, pulltrace_hosts="*.pulltrace.test, other")
        assert pt.outputs == ["json", "har", "md"]
        assert pt.hosts == ["*.pulltrace.test", "other"]
        with pytest.raises(exceptions.OptionsError, match="unknown output pdf"):
            tctx.configure(pt, pulltrace_outputs="json,pdf")
        with pytest.raises(exceptions.OptionsError, match="pulltrace_preview"):
            tctx.configure(pt, pulltrace_preview=-1)
        (tmp_path / "file").write_text("x")
        with pytest.raises(exceptions.OptionsError, match="not a directory"):
            tctx.configure(pt, pulltrace_dir=str(tmp_path / "file"))


def test_blob_is_streamed_counted_and_hashed_unchanged():
    pt = PullTrace()
    with taddons.context(pt):
        pt.response(manifest_flow())
        f = blob_flow()
        assert stream_through(pt, f, BLOB) == BLOB
        trace = pt.trace()  # the digest is read once the background hash is done
        ex = pt.exchanges[-1]
        assert (ex.response_bytes, ex.body_sha256) == (len(BLOB), DIGEST)
        assert ex.response_body_preview is None
        assert [s.kind.value for s in trace.sessions[0].steps] == ["manifest", "config-blob"]
        assert not trace.sessions[0].findings or all(
            fi.rule != "blob.digest-mismatch" for fi in trace.sessions[0].findings)


def test_tampered_blob_becomes_a_digest_mismatch_finding():
    pt = PullTrace()
    with taddons.context(pt):
        pt.response(manifest_flow())
        stream_through(pt, blob_flow(), BLOB[:-1] + b"!")
        (session,) = pt.trace().sessions
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
        assert pt.exchanges == []


def test_host_filter_keeps_downloads_that_follow_a_recorded_redirect():
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_hosts="hub.pulltrace.test")
        pt.response(flow("/v2/", status=401, host="elsewhere.test"))
        assert pt.exchanges == []
        redirect = flow(f"/v2/library/tiny/blobs/{DIGEST}", status=307,
                        headers=[("Location", "https://cdn.pulltrace.test/data?sig=1"), ("Content-Length", "0")])
        pt.responseheaders(redirect)
        pt.response(redirect)
        cdn = flow("/data?sig=1", host="cdn.pulltrace.test",
                   headers=[("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BLOB)))])
        cdn.response.content = None
        stream_through(pt, cdn, BLOB)
        kinds = [s.kind.value for s in pt.trace().sessions[0].steps]
        assert kinds == ["blob-redirect", "cdn-download"]


def test_outputs_are_written_on_done_and_on_save(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path / "out"), pulltrace_outputs="json,har")
        pt.done()  # nothing captured: nothing written
        assert not (tmp_path / "out").exists()
        pt.response(flow("/v2/", status=401, headers=[
            ("WWW-Authenticate", 'Bearer realm="https://auth.pulltrace.test/token",service="hub"')]))
        pt.response(manifest_flow(1000.5))
        tctx.command(pt.save)
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pulltrace.har", "pulltrace.json"]
        stream_through(pt, blob_flow(1001.0), BLOB)
        pt.done()
        trace = load_trace(tmp_path / "out" / "pulltrace.json")
        assert isinstance(trace, Trace)
        assert [s.kind.value for s in trace.sessions[0].steps] == ["ping", "manifest", "config-blob"]
        har = json.loads((tmp_path / "out" / "pulltrace.har").read_text())
        assert len(har["log"]["entries"]) == 3


def test_console_table_is_printed_once_when_a_pull_completes(caplog):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_outputs="console", pulltrace_idle=3600)
        caplog.set_level(logging.INFO, logger="pulltrace")
        pt.response(manifest_flow())
        pt.report_finished(1000.1)
        assert not [r for r in caplog.records if "config blob" in r.getMessage() or "manifest" in r.getMessage()]
        stream_through(pt, blob_flow(), BLOB)
        pt.report_finished(1001.1)
        pt.report_finished(1001.2)
        tables = [r.getMessage() for r in caplog.records if "hub.pulltrace.test/library/tiny:latest" in r.getMessage()]
        assert len(tables) == 1


@pytest.mark.parametrize("path", [ROOT / "addons" / "pulltrace.py", ROOT / "pulltrace" / "capture" / "script.py"])
def test_script_files_load_the_addon(path):
    with taddons.context() as tctx:
        module = tctx.script(str(path))
        assert [type(a).__name__ for a in module.addons] == ["PullTrace"]
