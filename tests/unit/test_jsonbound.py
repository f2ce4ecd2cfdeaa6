import json

import pytest

from pulltrace import jsonbound
from pulltrace.errors import UserError
from pulltrace.jsonbound import JSONBoundError, loads


def test_ordinary_json_is_read_as_json_reads_it():
    text = '{"a": [1, 2.5, "x[{", {"b": null}], "c": "\\"]"}'
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 1200 + "]" * 1200, "JSON is nested deeper than 64 levels"),
        ('{"a":' * 65 + "1" + "}" * 65, "JSON is nested deeper than 64 levels"),
        ("[" * 100_000, "JSON is nested deeper than 64 levels"),  # unclosed, never recursed into
        ('{"a": NaN}', "JSON holds NaN, which is not a JSON number"),
        ("[-Infinity]", "JSON holds -Infinity, which is not a JSON number"),
        ("1" * 5000, "JSON holds an integer too long to read"),
        ("[1,", "JSON is not valid JSON: Expecting value at line 1 column 4"),
        ('"' + '\\"' * 10_000, "JSON is not valid JSON: Unterminated string"),
    ],
)
def test_refusals_are_one_line_user_errors(text, message):
    with pytest.raises(JSONBoundError) as e:
        loads(text)
    assert str(e.value).startswith(message)
    assert isinstance(e.value, UserError) and isinstance(e.value, ValueError)


def test_depth_64_is_read_and_brackets_inside_strings_do_not_count():
    assert loads("[" * 64 + "]" * 64) == json.loads("[" * 64 + "]" * 64)
    assert loads(json.dumps(["[" * 1000])) == ["[" * 1000]
    with pytest.raises(JSONBoundError, match="deeper than 2 levels"):
        loads("[[[]]]", max_depth=2)


def test_size_bound_is_checked_before_parsing():
    with pytest.raises(JSONBoundError, match="manifest is larger than 10 bytes \\(11\\)"):
        loads(b'"123456789"', max_bytes=10, what="manifest")


def test_encodings_rfc_8259_allows():
    for raw in ('{"k": "é"}'.encode(e) for e in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32")):
        assert loads(raw) == {"k": "é"}
    with pytest.raises(JSONBoundError, match="not valid UTF-8: byte 0xe9 at offset 7"):
        loads('{"k": "é"}'.encode("latin-1"))
    assert loads('\ufeff{"a": 1}') == {"a": 1}


def test_lone_surrogate_escapes_become_replacement_characters():
    assert loads('["\\udcff", "\\ud83d\\ude00", "\\\\ud800"]') == ["\ufffd", "\U0001f600", "\\ud800"]
    # What comes out can always be written back as UTF-8.
    json.dumps(loads('"\\ud800x"'), ensure_ascii=False).encode("utf-8")


def test_check_depth_alone():
    jsonbound.check_depth("[]" * 10_000)
    with pytest.raises(JSONBoundError):
        jsonbound.check_depth("[" * 65)
