"""pulltrace.jsonl: written one finished session per line, read back whole or refused by line."""

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource

from pulltrace.capture import jsonl
from pulltrace.errors import UserError
from pulltrace.model import Exchange, Trace
from pulltrace.pipeline import build_trace

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = {name: json.loads((ROOT / "pulltrace" / name).read_text())
           for name in ("jsonl-v1.schema.json", "trace-v2.schema.json")}


def _sessions():
    exchanges = [
        Exchange(id="a1", method="GET", url="https://hub.pulltrace.test/v2/", started_at=10.0, status=401,
                 response_headers=[("WWW-Authenticate", 'Bearer realm="https://auth.pulltrace.test/token"')],
                 client="10.0.0.1:1", duration_ms=5.0),
        Exchange(id="a2", method="GET", url="https://hub.pulltrace.test/v2/library/tiny/manifests/latest",
                 started_at=10.1, status=404, client="10.0.0.1:1", duration_ms=2.0),
        Exchange(id="b1", method="GET", url="https://gcr.pulltrace.test/v2/team/app/manifests/v1", started_at=11.0,
                 status=200, client="10.0.0.2:1", duration_ms=3.0),
    ]
    return build_trace(exchanges, source="mitmproxy").sessions


def _write(path: Path, sessions) -> None:
    w = jsonl.JsonlWriter(path, source="mitmproxy", tool_version="9.9", started_at=5.0)
    for s in sessions:
        w.write(s)
    w.close()


def test_round_trip_keeps_every_session_as_the_trace_json_has_it(tmp_path):
    sessions = _sessions()
    path = tmp_path / "pulltrace.jsonl"
    _write(path, sessions)
    assert jsonl.is_jsonl(path)
    assert [s.id for s in jsonl.read_sessions(path)] == [s.id for s in sessions]
    trace = jsonl.load_trace(path)
    expected = build_trace([st.exchange for s in sessions for st in s.steps], source="mitmproxy")
    assert trace.to_dict()["sessions"] == expected.to_dict()["sessions"]
    assert (trace.source, trace.tool_version, trace.created_at) == ("mitmproxy", "9.9", 11.003)


def test_a_session_line_is_the_trace_jsons_session_form():
    from pulltrace.model import Trace, load_trace

    samples = [s for path in sorted((ROOT / "samples" / "lab").glob("*.json")) for s in load_trace(path).sessions]
    assert any(s.findings for s in samples) and any(st.links for s in samples for st in s.steps)
    for session in _sessions() + samples:
        assert json.loads(jsonl.session_line(session)) == Trace(sessions=[session]).to_dict()["sessions"][0]
        assert "\n" not in jsonl.session_line(session)


def test_every_line_validates_against_the_documented_schema(tmp_path):
    path = tmp_path / "pulltrace.jsonl"
    sessions = _sessions()
    _write(path, sessions)
    registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values()])
    schema = SCHEMAS["jsonl-v1.schema.json"]
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + len(sessions) == 3
    for line in lines:
        validator.validate(json.loads(line))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"schema": "pulltrace-jsonl", "version": 2, "trace_version": 1})


def test_a_malformed_line_is_a_user_error_naming_it(tmp_path):
    path = tmp_path / "x.jsonl"
    _write(path, _sessions())
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ['{"id": "s9", "steps": [{"kind": "nonsense"}]}'] + lines[3:]) + "\n")
    it = jsonl.read_sessions(path)
    assert next(it).id == "s1"
    with pytest.raises(UserError, match=r"x\.jsonl:3: not a pulltrace session"):
        next(it)


@pytest.mark.parametrize(("text", "message"), [
    ("", "is empty"),
    ('{"schema": "pulltrace-trace", "version": 1}\n', r":1: not a pulltrace JSONL header"),
    ("not json\n", r":1: not a pulltrace JSONL header"),
    ('{"schema": "pulltrace-jsonl", "version": 7, "trace_version": 1}\n', "version 7 .* upgrade"),
])
def test_a_file_that_is_not_pulltrace_jsonl_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "x.jsonl"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        jsonl.load_trace(path)


def test_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        jsonl.load_trace(tmp_path / "gone.jsonl")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "steps", "exchange", "kind", "summary", "findings", "links", "method", "url",
                         "started_at", "severity", "rule", "x"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(_json.map(json.dumps), st.binary(max_size=30).map(
    lambda b: b.decode("latin-1"))), max_size=4))
def test_the_reader_is_total(tmp_path, lines):
    """Whatever follows a valid header, the reader yields sessions or raises UserError, nothing else."""
    path = tmp_path / "fuzz.jsonl"
    header = json.dumps({"schema": "pulltrace-jsonl", "version": 1, "trace_version": 1})
    path.write_bytes(("\n".join([header, *(line.replace("\n", " ") for line in lines)]) + "\n").encode(
        "utf-8", "surrogateescape"))
    try:
        jsonl.load_trace(path)
    except UserError as e:
        assert "fuzz.jsonl:" in str(e)


def test_a_line_holds_the_model_fields_only_after_a_view_read_headers():
    sessions = _sessions()
    for s in sessions:
        for step in s.steps:
            step.exchange.response_header("www-authenticate")  # caches a header index on the exchange
    line = json.loads(jsonl.session_line(sessions[0]))
    written = {name for name, f in Exchange.__dataclass_fields__.items() if f.metadata.get("json", name) is not None}
    assert set(line["steps"][0]["exchange"]) == written and "prints" not in written
    assert line == Trace(sessions=[sessions[0]]).to_dict()["sessions"][0]  # as in a trace
