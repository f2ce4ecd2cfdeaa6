"""A step's typed facts: written as the trace's "info" object, read back checked, field by field."""

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulltrace.errors import UserError
from pulltrace.model import (
    Exchange,
    Session,
    Step,
    StepFacts,
    StepKind,
    Trace,
    TraceFormatError,
    facts_to_dict,
)

# What each fact may hold once read, written out here rather than taken from the reader.
TEXT, INT, NUMBER, BOOL, TEXTS, TEXT_MAP, OBJECT = "text", "int", "number", "bool", "texts", "text_map", "object"
TYPES = {
    "registry": TEXT, "served_by": TEXT, "ns": TEXT, "location": TEXT, "digest": TEXT, "by": TEXT,
    "media_type": TEXT, "media_type_from": TEXT, "platforms": TEXTS, "layers": INT, "platform": TEXT,
    "expected_media_type": TEXT, "expected_size": INT, "challenge": TEXT_MAP, "credential_kind": TEXT,
    "realm": TEXT, "service": TEXT, "scopes": TEXTS, "account": TEXT, "client_id": TEXT, "offline_token": BOOL,
    "grant_type": TEXT, "expires_in": NUMBER, "issued_at": TEXT, "fields": TEXTS, "claims": OBJECT,
}
CHOICES = {"by": ("tag", "digest"), "credential_kind": ("anonymous", "basic", "password", "refresh_token")}


def _is(kind: str, value: object) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == TEXTS:
        return isinstance(value, list) and all(isinstance(x, str) for x in value)
    if kind == TEXT_MAP:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return isinstance(value, dict)


def _trace_with(info: dict) -> dict:
    step = Step(Exchange(id="x1", method="GET", url="https://r.test/v2/", started_at=1.0), kind=StepKind.PING)
    data = json.loads(Trace(sessions=[Session(id="s1", steps=[step])]).to_json())
    data["sessions"][0]["steps"][0]["info"] = info
    return data


def _read_facts(info: dict) -> StepFacts:
    return Trace.from_dict(_trace_with(info)).sessions[0].steps[0].facts


def test_every_fact_is_typed_here_and_has_slots():
    assert {f.name for f in dataclasses.fields(StepFacts)} == set(TYPES)
    assert not hasattr(StepFacts(), "__dict__")


def test_a_token_requests_facts_are_written_in_the_order_the_classifier_learns_them():
    facts = StepFacts(realm="https://auth.test/token", scopes=["repository:a:pull"], credential_kind="anonymous",
                      expires_in=300, fields=["expires_in", "token"], location="https://auth2.test/token",
                      registry="r.test")
    # A token request that named no service still says so: `"service": null`.
    assert list(facts_to_dict(facts).items()) == [
        ("realm", "https://auth.test/token"), ("service", None), ("scopes", ["repository:a:pull"]),
        ("credential_kind", "anonymous"), ("expires_in", 300), ("fields", ["expires_in", "token"]),
        ("location", "https://auth2.test/token"), ("registry", "r.test")]


def test_any_other_steps_facts_start_with_its_registry_and_leave_out_what_it_lacks():
    facts = StepFacts(digest="sha256:" + "a" * 64, registry="r.test", by="tag", layers=0, media_type="m",
                      ns="docker.io", platform="linux/amd64")
    assert list(facts_to_dict(facts)) == ["ns", "registry", "by", "layers", "media_type", "digest", "platform"]
    assert facts_to_dict(StepFacts()) == {}
    assert facts_to_dict(StepFacts(offline_token=False, service=None)) == {}


def test_a_fact_of_the_wrong_type_names_its_place():
    with pytest.raises(TraceFormatError, match=r"sessions\[0\]\.steps\[0\]\.info\.layers: not an integer"):
        _read_facts({"layers": "3"})
    with pytest.raises(TraceFormatError, match=r"info\.credential_kind: not one of anonymous, basic"):
        _read_facts({"credential_kind": "ano…"})


def test_unknown_and_old_keys_are_left_out_or_upgraded():
    facts = _read_facts({"digest": "sha256:1", "intended": "manifest", "from_the_future": [1, 2],
                         "credentials": "basic", "media_type": None})
    assert facts == StepFacts(digest="sha256:1", credential_kind="basic")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8)
_VALUES = {
    TEXT: st.text(max_size=6), INT: st.integers(), NUMBER: st.integers() | st.floats(allow_nan=False),
    BOOL: st.booleans(), TEXTS: st.lists(st.text(max_size=4), max_size=3),
    TEXT_MAP: st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
    OBJECT: st.dictionaries(st.text(max_size=4), _JSON, max_size=3),
}


@st.composite
def _facts(draw) -> StepFacts:
    facts = StepFacts()
    for name in draw(st.sets(st.sampled_from(sorted(TYPES)))):
        value = draw(st.sampled_from(CHOICES[name]) if name in CHOICES else _VALUES[TYPES[name]])
        setattr(facts, name, value)
    return facts


@settings(max_examples=300, deadline=None)
@given(_facts())
def test_facts_survive_the_trace_json(facts):
    step = Step(Exchange(id="x1", method="GET", url="https://r.test/v2/", started_at=1.0), facts=facts)
    again = Trace.from_json(Trace(sessions=[Session(id="s1", steps=[step])]).to_json())
    assert again.sessions[0].steps[0].facts == facts


_JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                  st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=2),
                  st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.integers()), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*TYPES, "intended", "credentials", "x"]) | st.text(max_size=4), _JUNK,
                       max_size=6))
def test_a_hostile_info_object_gives_typed_facts_or_one_clear_error(info):
    try:
        facts = _read_facts(info)
    except TraceFormatError as e:
        assert isinstance(e, UserError) and "\n" not in str(e) and ".info." in str(e)
        return
    for name, kind in TYPES.items():
        value = getattr(facts, name)
        if value is None:
            continue
        assert _is(kind, value), (name, value)
        if name in CHOICES:
            assert value in CHOICES[name]
    json.dumps(facts_to_dict(facts))  # writable again
