"""Flow files, HAR and trace JSON all give the same exchanges, hence the same trace."""

import base64
import json
from pathlib import Path

import pytest
from mitmproxy import http, io
from mitmproxy.test import tflow, tutils

from pulltrace.capture.importers import CaptureFormatError, load_exchanges
from pulltrace.model import write_atomically
from pulltrace.pipeline import build_trace
from pulltrace.render.har import to_har

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


def _three_flows(tmp_path) -> bytes:
    path = tmp_path / "three.flows"
    with path.open("wb") as f:
        writer = io.FlowWriter(f)
        for n in range(3):
            writer.add(_flow("GET", f"https://r.test/v2/a/manifests/{n}", 200, t=1000.0 + n))
    return path.read_bytes()


def _frame_ends(data: bytes) -> list[int]:
    ends, pos = [], 0
    while pos < len(data):
        colon = data.index(b":", pos)
        pos = colon + 1 + int(data[pos:colon]) + 1
        ends.append(pos)
    return ends


def test_broken_flow_files_name_the_flow_that_broke(tmp_path):
    good = _three_flows(tmp_path)
    ends = _frame_ends(good)
    second_len = good[ends[0]:].split(b":", 1)[0]
    cases = {
        "longer": good[: ends[0]] + str(int(second_len) + 10**6).encode() + good[ends[0] + len(second_len):],
        "truncated": good[: ends[1] + 100],
        "garbage": good + b"garbage after the last flow",
        "shorter": good[: ends[0]] + str(int(second_len) - 1).encode() + good[ends[0] + len(second_len):],
    }
    messages = {}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CaptureFormatError) as e:
            load_exchanges(path)
        messages[name] = str(e.value).removeprefix(f"{path}: ")
    third_len = int(good[ends[1]:].split(b":", 1)[0])
    assert messages["longer"].startswith("flow 2 cannot be read (truncated: its length prefix says")
    assert messages["truncated"] == (
        f"flow 3 cannot be read (truncated: its length prefix says {third_len} bytes, "
        f"{100 - len(str(third_len)) - 2} remain); the 2 before it were read"
    )
    assert messages["garbage"] == (
        "flow 4 cannot be read (no tnetstring length prefix where a flow should start); the 3 before it were read"
    )
    assert messages["shorter"].startswith("flow 2 cannot be read (")
    assert all("\n" not in m for m in messages.values())


def test_a_length_prefix_of_a_terabyte_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.flows"
    path.write_bytes(b"999999999999:" + b"x" * 10)
    with pytest.raises(CaptureFormatError, match="not a mitmproxy flow file.*length prefix says 999999999999 bytes"):
        load_exchanges(path)


def _har(**entry):
    base = {"startedDateTime": "2024-01-01T00:00:00Z",
            "request": {"method": "GET", "url": "https://r.test/v2/", "headers": []},
            "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json"}}}
    base.update(entry)
    return json.dumps({"log": {"entries": [base]}})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (json.dumps({"log": {"entries": [7]}}), r"HAR entry 1 is malformed \(entry is not an object\)"),
        (json.dumps({"log": {"entries": {"a": 1}}}), "HAR without log.entries"),
        (json.dumps({"log": []}), "HAR without log.entries"),
        (_har(request={"method": "GET", "url": 5}), r"HAR entry 1 is malformed \(request.url is not text\)"),
        (_har(request={"method": "GET", "url": "https://r.test/", "headers": {"a": "b"}}),
         r"\(request.headers is not a list\)"),
        (_har(request={"method": "GET", "url": "https://r.test/", "headers": [["a", "b"]]}),
         r"\(request.headers\[0\] is not an object\)"),
        (_har(response={"status": 200, "headers": [{"name": "a", "value": 1}]}),
         r"\(response.headers\[0\].value is not text\)"),
        (_har(response=[]), r"\(response is not an object\)"),
        (_har(startedDateTime="yesterday"), r"startedDateTime 'yesterday' is not an ISO 8601 time"),
        (_har(startedDateTime=5), r"entry.startedDateTime is not text"),
        (_har(request={"method": "GET", "url": "https://r.test:abc/v2/"}),
         r"HAR entry 1: invalid URL 'https://r.test:abc/v2/': Port could not be cast"),
        (_har(request={"method": "GET", "url": "https://[::1/v2/"}), r"invalid URL .*Invalid IPv6 URL"),
        (_har(_pulltrace={"token_claims": [1]}), r"_pulltrace.token_claims is not an object"),
        ("[" * 1200 + "]" * 1200, "is nested deeper than 64 levels"),
        ('{"log": "\xff"}', "not valid UTF-8"),
        (json.dumps([{"id": "x", "method": "GET", "url": "https://r.test/", "started_at": "soon"}]),
         "exchange 1: malformed trace: exchange.started_at: not a number"),
        (json.dumps([5]), "exchange 1 is not a JSON object"),
        (json.dumps([{"id": "x"}]), "not a list of pulltrace exchanges \\(exchange 1: "),
        (json.dumps({"schema": "pulltrace-trace", "version": 1, "sessions": [5]}),
         r"malformed trace: sessions\[0\]: not an object"),
        (json.dumps({"schema": "pulltrace-trace", "version": 1, "sessions": [{"id": "s", "steps": [
            {"exchange": {"id": "x", "method": "GET", "url": "https://h:x/", "started_at": 0}}]}]}),
         "step 1: invalid URL 'https://h:x/'"),
    ],
)
def test_files_of_the_wrong_shape_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content.encode("latin-1") if "\xff" in content else content.encode())
    with pytest.raises(CaptureFormatError, match=message) as e:
        load_exchanges(path)
    assert "\n" not in str(e.value)


def test_har_bodies_in_base64_and_other_encodings(tmp_path):
    body = '{"errors": [{"code": "DENIED", "message": "é"}]}'
    cases = {
        "utf8": (base64.b64encode(body.encode()).decode(), body),
        "bom": (base64.b64encode(body.encode("utf-8-sig")).decode(), body),
        "utf16": (base64.b64encode(body.encode("utf-16")).decode(), body),
        "latin1": (base64.b64encode(b'{"token": "\xe9"}').decode(), None),  # not text a preview can show
        "not-base64": ("%%%not base64%%%", None),
    }
    for name, (text, preview) in cases.items():
        path = tmp_path / f"{name}.har"
        content = {"mimeType": "application/json", "text": text, "encoding": "base64"}
        path.write_text(_har(response={"status": 200, "headers": [], "content": content}))
        [ex] = load_exchanges(path)
        assert ex.response_body_preview == preview, name


def test_a_utf16_har_file_is_read(tmp_path):
    path = tmp_path / "windows.har"
    path.write_bytes(_har().encode("utf-16"))
    [ex] = load_exchanges(path)
    assert (ex.method, ex.url, ex.status) == ("GET", "https://r.test/v2/", 200)


def test_har_numbers_that_are_not_numbers_are_unknown(tmp_path):
    path = tmp_path / "odd.har"
    text = _har(time=True, timings={"wait": "HUGE", "send": -1, "receive": "5"},
                response={"status": "200", "headers": [], "content": {"size": "HUGE"}})
    path.write_text(text.replace('"HUGE"', "1e999"))  # JSON's 1e999 reads as float('inf')
    [ex] = load_exchanges(path)
    assert (ex.status, ex.duration_ms, ex.response_bytes) == (None, None, None)
    assert (ex.timings.wait_ms, ex.timings.send_ms, ex.timings.receive_ms) == (None, None, None)


def test_a_flow_with_a_field_mitmproxy_does_not_know(tmp_path):
    """mitmproxy's from_state ends with `assert state == {}`: an unknown field is an
    AssertionError inside mitmproxy, reported here as a broken flow."""
    from mitmproxy.io import tnetstring

    state = _flow("GET", "https://r.test/v2/", 200).get_state()
    state["unknown-field"] = b"x"
    path = tmp_path / "odd.flows"
    path.write_bytes(tnetstring.dumps(state))
    with pytest.raises(CaptureFormatError, match="not a mitmproxy flow file, HAR or trace JSON "
                                                 r"\(AssertionError in mitmproxy's reader\)"):
        load_exchanges(path)
