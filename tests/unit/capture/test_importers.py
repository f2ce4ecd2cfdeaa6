"""Flow files, HAR and trace JSON all give the same exchanges, hence the same trace."""

import json
from pathlib import Path

import pytest
from mitmproxy import http, io
from mitmproxy.test import tflow, tutils

from pulltrace.render.har import to_har
from pulltrace.capture.importers import CaptureFormatError, load_exchanges
from pulltrace.model import write_atomically
from pulltrace.pipeline import build_trace

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds"
SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "seeds"


def kinds(exchanges) -> list[str]:
    return [s.kind.value for s in build_trace(exchanges, "t").all_steps()]


def shape(trace):
    return [(s.id, s.kind.value, s.role, [(link.rel, link.target) for link in s.links]) for s in trace.all_steps()]


@pytest.mark.parametrize("name", [p.stem for p in sorted(SEEDS.glob("*.json"))])
def test_har_round_trip_keeps_the_classification(tmp_path, name):
    trace = build_trace(load_exchanges(SEEDS / f"{name}.json"), "seed")
    har = tmp_path / "x.har"
    har.write_text(json.dumps(to_har(trace)))
    again = build_trace(load_exchanges(har), "har")
    assert shape(again) == shape(trace)
    assert [s.summary for s in again.sessions] == [s.summary for s in trace.sessions]


@pytest.mark.parametrize("name", [p.stem for p in sorted(SEEDS.glob("*.json"))])
def test_trace_json_round_trip(tmp_path, name):
    trace = build_trace(load_exchanges(SEEDS / f"{name}.json"), "seed")
    path = tmp_path / "t.json"
    write_atomically(path, trace.to_json())
    assert shape(build_trace(load_exchanges(path), "again")) == shape(trace)


def _flow(method, url, status, req_headers=(), resp_headers=(), content=b"", t=0.0):
    parts = url.split("/", 3)
    host = parts[2]
    req = tutils.treq(host=host, port=443, scheme=b"https", method=method.encode(),
                      path=("/" + parts[3]).encode(), authority=host.encode(),
                      headers=http.Headers([(k.encode(), v.encode()) for k, v in [("Host", host), *req_headers]]),
                      content=b"", timestamp_start=t, timestamp_end=t + 0.001)
    resp = tutils.tresp(status_code=status, headers=http.Headers([(k.encode(), v.encode()) for k, v in resp_headers]),
                        content=content, timestamp_start=t + 0.002, timestamp_end=t + 0.003)
    return tflow.tflow(req=req, resp=resp)


def test_mitmproxy_flow_file_with_buffered_blob_bodies(tmp_path):
    """`mitmdump -w` without streaming keeps whole blobs: they are hashed, never previewed."""
    seed = json.loads((SEEDS / "004-harbor-pull.json").read_text())
    blob = b"\x1f\x8b" + b"layer" * 1000
    path = tmp_path / "pull.flows"
    with path.open("wb") as f:
        writer = io.FlowWriter(f)
        for n, ex in enumerate(seed):
            body = (ex["response_body_preview"] or "").encode()
            if "/blobs/" in ex["url"]:
                body = blob
            writer.add(_flow(ex["method"], ex["url"], ex["status"], ex["request_headers"], ex["response_headers"],
                             body, t=1000.0 + n))
    exchanges = load_exchanges(path)
    assert kinds(exchanges) == ["ping", "token", "manifest-head", "manifest", "config-blob", "layer-blob"]
    assert exchanges[5].response_body_preview is None
    assert exchanges[5].response_bytes == len(blob)
    assert exchanges[5].body_sha256.startswith("sha256:")
    assert exchanges[1].secrets_masked and "Basic YWRt…" in dict(exchanges[1].request_headers).values()
    assert exchanges[1].token_claims["access"][0]["name"] == "test/busybox"
    trace = build_trace(exchanges, "flows")
    # The fake blob bytes do not hash to the digests in the URLs.
    assert [f.rule for s in trace.sessions for f in s.findings].count("blob.digest-mismatch") == 2


def test_samples_match_a_fresh_build():
    """samples/seeds/ are rebuilt with `samples/seeds/build.py`; steps and summaries must agree."""
    for path in sorted(SAMPLES.glob("*.json")):
        sample = json.loads(path.read_text())
        fresh = json.loads(build_trace(load_exchanges(SEEDS / path.name), f"seed:{path.stem}").to_json())
        assert sample["notes"], f"{path.name} says where it comes from"
        for mine, theirs in zip(sample["sessions"], fresh["sessions"], strict=True):
            assert mine["steps"] == theirs["steps"], f"{path.name}: run samples/seeds/build.py"
            assert mine["summary"] == theirs["summary"], f"{path.name}: run samples/seeds/build.py"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b'{"foo": 1}', "neither a HAR file"),
        (b'{"schema": "pulltrace-trace", "version": 99}', "version 99"),
        (b"{not json", "not valid JSON"),
        (b"garbage that is not a flow", "not a mitmproxy flow file"),
        (b'{"log": {}}', "HAR without log.entries"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(CaptureFormatError, match=message):
        load_exchanges(path)


def test_missing_file():
    with pytest.raises(CaptureFormatError, match="no such file"):
        load_exchanges("/nonexistent/capture.flows")
