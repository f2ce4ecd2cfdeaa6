import json

import pytest

from pulltrace.model import (
    Exchange,
    Finding,
    Link,
    Session,
    SessionSummary,
    Severity,
    Step,
    StepFacts,
    StepKind,
    Timings,
    Trace,
    TraceFormatError,
    load_trace,
    write_atomically,
)


def _trace() -> Trace:
    ping = Exchange(
        id="x1", method="GET", url="https://hub.pulltrace.test/v2/", started_at=1700000000.5,
        request_headers=[("User-Agent", "docker/20.10"), ("Accept", "a"), ("Accept", "b")],
        status=401, reason="Unauthorized",
        response_headers=[("WWW-Authenticate", 'Bearer realm="https://auth.pulltrace.test/token"')],
        response_body_preview='{"errors":[{"code":"UNAUTHORIZED"}]}', response_bytes=87,
        timings=Timings(connect_ms=1.0, tls_ms=2.5, send_ms=0.1, wait_ms=3.0, receive_ms=0.2),
    )
    token = Exchange(id="x2", method="GET", url="https://auth.pulltrace.test/token?scope=repository%3Alibrary%2Ftiny%3Apull",
                     started_at=1700000000.6, status=200)
    steps = [
        Step(exchange=ping, kind=StepKind.PING, index=1),
        Step(exchange=token, kind=StepKind.TOKEN, index=2, links=[Link("answers", "x1", "challenge")],
             facts=StepFacts(scopes=["repository:library/tiny:pull"], claims={"access": []})),
    ]
    session = Session(
        id="s1", client="127.0.0.1", steps=steps,
        summary=SessionSummary(image="hub.pulltrace.test/library/tiny:latest", registry="hub.pulltrace.test",
                               scopes_granted=["repository:library/tiny:pull"], layers=1, bytes=10),
        findings=[Finding("auth.none", Severity.INFO, "t", "c", "f", ["x1"])],
    )
    return Trace(sessions=[session], source="addon", created_at=1.0, tool_version="0.1.0", notes=["n"])


def test_json_round_trip_is_lossless():
    trace = _trace()
    again = Trace.from_json(trace.to_json())
    assert again == trace
    assert again.sessions[0].steps[0].exchange.request_headers[2] == ("Accept", "b")
    assert again.sessions[0].steps[1].kind is StepKind.TOKEN
    assert again.sessions[0].findings[0].severity is Severity.INFO


def test_json_carries_schema_name_and_version():
    data = json.loads(_trace().to_json())
    assert data["schema"] == "pulltrace-trace"
    assert data["version"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not a pulltrace trace"),
        ('{"schema": "pulltrace-trace", "version": 99}', "version 99 is not supported"),
        ('{"schema": "pulltrace-trace", "version": 1, "sessions": [{"steps": []}]}', "malformed trace"),
    ],
)
def test_bad_trace_json_is_a_clear_error(text, message):
    with pytest.raises(TraceFormatError) as e:
        Trace.from_json(text)
    assert message in str(e.value)


def test_header_lookup_is_case_insensitive():
    ex = _trace().sessions[0].steps[0].exchange
    assert ex.response_header("www-authenticate").startswith("Bearer")
    assert ex.request_header("accept") == "a"
    assert ex.request_header("missing") is None


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "trace.json"
    write_atomically(target, _trace().to_json())
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert load_trace(target) == _trace()

    with pytest.raises(TypeError):
        write_atomically(target, object())  # type: ignore[arg-type]
    assert load_trace(target) == _trace()
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- reading is total: any malformed trace is a TraceFormatError, a UserError -----------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pulltrace.errors import UserError  # noqa: E402

_JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _paths(value, path=()):
    """Every (path to a value) inside a JSON document."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _paths(item, (*path, n))


_VALID = json.loads(_trace().to_json())
_ALL_PATHS = [p for p in _paths(_VALID) if p]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_ALL_PATHS), _JUNK, st.booleans())
def test_any_field_of_the_wrong_type_or_missing_is_a_trace_format_error(path, junk, delete):
    data = json.loads(json.dumps(_VALID))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    try:
        Trace.from_dict(data)
    except TraceFormatError as e:
        assert "\n" not in str(e)
        assert isinstance(e, UserError)


def test_a_version_1_trace_is_read_with_failed_steps_keeping_their_kind():
    data = json.loads(_trace().to_json())
    data["version"] = 1
    step = data["sessions"][0]["steps"][0]
    step["kind"], step["info"] = "error", {"intended": "manifest"}
    del step["error"]
    trace = Trace.from_dict(data)
    first = trace.sessions[0].steps[0]
    assert (first.kind, first.error, first.facts) == (StepKind.MANIFEST, "failed", StepFacts())


@pytest.mark.parametrize("version", [0, 3, "2", True, None])
def test_an_unknown_version_says_what_to_do(version):
    data = json.loads(_trace().to_json())
    data["version"] = version
    with pytest.raises(TraceFormatError, match=r"is not supported .* upgrade pulltrace, or rebuild the trace"):
        Trace.from_dict(data)


def test_json_nested_too_deeply_is_a_trace_format_error():
    with pytest.raises(TraceFormatError, match="nested too deeply"):
        Trace.from_json("[" * 100_000 + "]" * 100_000)
