"""HAR files and mitmproxy flow files of any shape: a list of exchanges or one
CaptureFormatError, never another exception."""

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import io
from mitmproxy.test import tflow

from pulltrace.capture.importers import CaptureFormatError, har_to_exchanges, load_exchanges
from pulltrace.model import Exchange

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)
headers = st.lists(st.fixed_dictionaries({"name": st.text(max_size=8) | json_values,
                                          "value": st.text(max_size=12) | json_values}) | json_values, max_size=3)
entry = st.fixed_dictionaries(
    {},
    optional={
        "startedDateTime": st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5+02:00", "x"]) | json_values,
        "request": st.fixed_dictionaries({}, optional={
            "method": st.sampled_from(["GET", "HEAD"]) | json_values,
            "url": st.sampled_from(["https://r.test/v2/", "https://r.test:abc/", "https://[::1/", "http://[::1]:5000/v2/"])
            | json_values,
            "headers": headers,
            "postData": st.fixed_dictionaries({}, optional={"text": st.text(max_size=20) | json_values}) | json_values,
            "bodySize": st.integers(-2, 10**20) | json_values,
        }) | json_values,
        "response": st.fixed_dictionaries({}, optional={
            "status": st.integers(-1, 1000) | json_values,
            "statusText": st.text(max_size=10) | json_values,
            "headers": headers,
            "content": st.fixed_dictionaries({}, optional={
                "mimeType": st.sampled_from(["application/json", "text/html"]) | json_values,
                "text": st.text(max_size=30) | json_values,
                "encoding": st.sampled_from(["base64"]) | json_values,
                "size": st.integers(-2, 10**20) | json_values,
            }) | json_values,
        }) | json_values,
        "timings": st.dictionaries(st.sampled_from(["connect", "ssl", "send", "wait", "receive"]),
                                   json_values) | json_values,
        "time": json_values,
        "_pulltrace": st.dictionaries(st.sampled_from(["id", "client", "auth_scheme", "body_sha256", "error",
                                                       "token_claims"]), json_values) | json_values,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry | json_values, max_size=2))
def test_har_entries_of_any_shape(entries):
    try:
        exchanges = har_to_exchanges({"log": {"entries": entries}}, 65536)
    except CaptureFormatError as e:
        assert "\n" not in str(e)
        return
    assert all(isinstance(ex, Exchange) and isinstance(ex.url, str) for ex in exchanges)


@pytest.fixture(scope="module")
def flow_file_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("flows") / "three.flows"
    with path.open("wb") as f:
        writer = io.FlowWriter(f)
        for _ in range(3):
            writer.add(tflow.tflow(resp=True))
    return path.read_bytes()


def _mutate(data: bytes, seed: int) -> bytes:
    r = random.Random(seed)
    b = bytearray(data)
    for _ in range(r.randint(1, 4)):
        if not b:
            break
        op, pos = r.randrange(4), r.randrange(len(b))
        if op == 0:
            b[pos] = r.randrange(256)
        elif op == 1 and b[pos:pos + 1].isdigit():
            b[pos] = ord(str(r.randrange(10)))  # a length digit changed
        elif op == 2:
            del b[pos:]  # truncated
        else:
            b[pos:pos] = r.randbytes(r.randint(1, 8))
    return bytes(b)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32))
def test_mutated_flow_files(tmp_path, flow_file_bytes, seed):
    path: Path = tmp_path / "m.flows"
    path.write_bytes(_mutate(flow_file_bytes, seed) or b"x")
    try:
        exchanges = load_exchanges(path)
    except CaptureFormatError as e:
        assert "\n" not in str(e)
        return
    assert all(isinstance(ex, Exchange) for ex in exchanges)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values)
def test_any_json_file(tmp_path, value):
    path = tmp_path / "any.json"
    path.write_text(json.dumps(value))
    try:
        load_exchanges(path)
    except CaptureFormatError as e:
        assert "\n" not in str(e)
