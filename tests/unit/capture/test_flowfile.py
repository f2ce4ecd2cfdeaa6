"""`-w` flow files keep pulltrace's names: the addon beside mitmproxy's own Save addon, in the
order mitmproxy calls them (a script's hooks before Save's), read back with mitmproxy's reader."""

import hashlib
import io
import json
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy import io as mitmio
from mitmproxy.addons.save import Save
from mitmproxy.test import taddons, tflow, tutils
from mitmproxy.tools.web.webaddons import WebAddon

from pulltrace.capture import addon as addon_module
from pulltrace.capture.addon import PullTrace
from pulltrace.capture.flowfile import FlowFileHold
from pulltrace.capture.names import FlowName

BLOB = b"layer" * 2000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
IMAGE = "hub.pulltrace.test/library/tiny:latest"


@pytest.fixture(autouse=True)
def _no_background_ticks(monkeypatch):
    monkeypatch.setattr(addon_module, "TICK_S", 3600.0)


def flow(path: str, *, status: int = 200, headers=(), content: bytes | None = b"", t: float = 1000.0,
         host: str = "hub.pulltrace.test") -> http.HTTPFlow:
    req = tutils.treq(host=host, port=443, scheme=b"https", method=b"GET", path=path.encode(),
                      headers=http.Headers(), content=b"", timestamp_start=t, timestamp_end=t + 0.001)
    resp = tutils.tresp(status_code=status, reason=b"OK",
                        headers=http.Headers([(k.encode(), v.encode()) for k, v in headers]),
                        content=content, timestamp_start=t + 0.01, timestamp_end=t + 0.02)
    return tflow.tflow(req=req, resp=resp)


def pull_flows() -> list[http.HTTPFlow]:
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(BLOB),
                   "digest": DIGEST},
        "layers": [],
    }).encode()
    missing = flow("/v2/library/tiny/blobs/sha256:" + "0" * 64, status=404, t=1001.5)
    m = flow("/v2/library/tiny/manifests/latest", content=manifest, t=1000.0,
             headers=[("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")])
    blob = flow(f"/v2/library/tiny/blobs/{DIGEST}", content=None, t=1001.0,
                headers=[("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BLOB)))])
    return [m, blob, missing]


def respond(pt: PullTrace, save: Save, f: http.HTTPFlow) -> None:
    """mitmproxy's order: the script's hooks, then Save's."""
    pt.requestheaders(f)
    save.request(f)
    pt.responseheaders(f)
    if callable(f.response.stream):
        f.response.stream(BLOB)
        f.response.stream(b"")
    pt.response(f)
    save.response(f)


def read(path: Path) -> list[http.HTTPFlow]:
    with path.open("rb") as fo:
        return list(mitmio.FlowReader(fo).stream())


def test_a_flow_file_keeps_the_names_comment_mark_and_metadata(tmp_path):
    out = tmp_path / "pull.flows"
    pt, save = PullTrace(), Save()
    with taddons.context(pt, save) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        tctx.configure(save, save_stream_file=str(out))
        pt.running()
        flows = pull_flows()
        for f in flows:
            respond(pt, save, f)
        assert read(out) == []  # held until the pull closes, not written unnamed
        pt.done()
        save.done()
    written = read(out)
    assert [f.id for f in written] == [f.id for f in flows]  # each once, in step order
    assert [f.comment for f in written] == [
        f"#1 manifest · pull 1 {IMAGE}", f"#2 config blob · config · pull 1 {IMAGE}",
        f"#3 layer blob · pull 1 {IMAGE}"]
    assert [f.marked for f in written] == ["", "", ":exclamation:"]
    assert written[1].metadata["pulltrace"] == {
        "kind": "config-blob", "step": 2, "pull": 1, "session": "s1", "action": "pull", "image": IMAGE,
        "role": "config", "links": [{"rel": "blob-of", "target": flows[0].id}]}
    assert written[1].response.content is None  # the streamed blob was never kept
    assert save.__dict__.get("save_flow") is None  # Save has its own method back


def test_a_pull_closing_mid_capture_is_written_then_and_flows_outside_pulls_at_once(tmp_path):
    out = tmp_path / "pull.flows"
    pt, save = PullTrace(), Save()
    with taddons.context(pt, save) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl",
                       pulltrace_hosts="hub.pulltrace.test")
        tctx.configure(save, save_stream_file=str(out), save_stream_filter="~comment pull")
        pt.running()
        other = flow("/", host="example.org", t=998.0)
        respond(pt, save, other)  # not recorded by pulltrace: Save decides alone, at once
        for f in pull_flows():
            respond(pt, save, f)
        assert pt.thread.call(lambda: pt.recorder.tick(1010.0)).wait(30)
        save.stream.fo.flush()
        # The filter saw the names: only the pull's flows pass `~comment pull`.
        assert [f.comment.split(" · ")[0] for f in read(out)] == ["#1 manifest", "#2 config blob",
                                                                  "#3 layer blob"]
        assert not pt.flowfile.held
        pt.done()
        save.done()
    assert len(read(out)) == 3


def test_metadata_survives_mitmproxys_own_flow_format():
    f = tflow.tflow(resp=True)
    f.comment, f.marked = "#2 manifest · pull 1 x", ":exclamation:"
    f.metadata["pulltrace"] = {"kind": "manifest", "step": 2, "pull": 1, "session": "s1", "action": "pull",
                               "image": None, "role": "", "links": [{"rel": "answers", "target": "abc"}]}
    buf = io.BytesIO()
    mitmio.FlowWriter(buf).add(f)
    buf.seek(0)
    (back,) = mitmio.FlowReader(buf).stream()
    assert (back.comment, back.marked, back.metadata) == (f.comment, f.marked, f.metadata)


def test_past_the_bound_the_oldest_held_flow_is_written_unnamed(tmp_path):
    out = tmp_path / "pull.flows"
    save = Save()
    hold = FlowFileHold(limit=2)
    with taddons.context(save) as tctx:
        tctx.configure(save, save_stream_file=str(out))
        assert hold.attach(tctx.master.addons)
        flows = [tflow.tflow(resp=True) for _ in range(3)]
        for f in flows:
            hold.hold(f)
            save.response(f)
        save.stream.fo.flush()
        assert [f.id for f in read(out)] == [flows[0].id]
        hold.release(flows[2])
        hold.detach()  # what is left goes out as it is
        save.done()
    assert [f.id for f in read(out)] == [flows[0].id, flows[2].id, flows[1].id]


def test_without_w_nothing_is_held(tmp_path):
    pt, save = PullTrace(), Save()
    with taddons.context(pt, save) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        pt.running()
        for f in pull_flows():
            respond(pt, save, f)
        assert not pt.flowfile.held
        pt.done()


def test_names_applied_for_a_held_flow_release_it(tmp_path):
    out = tmp_path / "pull.flows"
    pt, save = PullTrace(), Save()
    with taddons.context(pt, save) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        tctx.configure(save, save_stream_file=str(out))
        pt.running()
        f = pull_flows()[0]
        respond(pt, save, f)
        assert list(pt.flowfile.held) == [f.id]
        pt._apply_names([FlowName(f.id, "#1 manifest · pull 7 x", False, {"pull": 7})])
        assert not pt.flowfile.held
        save.stream.fo.flush()
        assert [(g.comment, g.metadata["pulltrace"]) for g in read(out)] == [("#1 manifest · pull 7 x", {"pull": 7})]
        pt.done()
        save.done()


def test_mitmweb_lists_the_comment_column_unless_the_user_chose_columns(tmp_path):
    pt = PullTrace()
    with taddons.context(pt, WebAddon()) as tctx:
        pt.running()
        assert list(tctx.options.web_columns)[-1] == "comment"
        assert list(tctx.options.web_columns)[:-1] == ["tls", "icon", "path", "method", "status", "size", "time"]
    pt = PullTrace()
    with taddons.context(pt, WebAddon()) as tctx:
        tctx.options.update(web_columns=["path", "status"])
        pt.running()
        assert list(tctx.options.web_columns) == ["path", "status"]


def test_the_save_file_command_writes_the_named_flows(tmp_path):
    """mitmweb's and the console's `save.file`: the flows as they are, named once their pull closed."""
    pt, save = PullTrace(), Save()
    with taddons.context(pt, save) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        pt.running()
        flows = pull_flows()
        for f in flows:
            respond(pt, save, f)
        pt.done()
        save.save(flows, str(tmp_path / "saved.flows"))
    assert [(f.comment, f.marked, f.metadata["pulltrace"]["step"]) for f in read(tmp_path / "saved.flows")] == [
        (f"#1 manifest · pull 1 {IMAGE}", "", 1), (f"#2 config blob · config · pull 1 {IMAGE}", "", 2),
        (f"#3 layer blob · pull 1 {IMAGE}", ":exclamation:", 3)]
