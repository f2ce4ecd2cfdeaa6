import argparse
import json

import pytest
from render_factory import seed000_trace

from pulltrace.commands import diff, report
from pulltrace.errors import UserError
from pulltrace.model import write_atomically


def run(argv):
    parser = argparse.ArgumentParser(prog="pulltrace")
    sub = parser.add_subparsers()
    report.register(sub)
    diff.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def trace_file(tmp_path):
    path = tmp_path / "seed000.json"
    write_atomically(path, seed000_trace().to_json())
    return path


def test_show_text_md_html(trace_file, capsys):
    assert run(["show", str(trace_file)]) == 0
    assert "blob redirect" in capsys.readouterr().out
    assert run(["show", str(trace_file), "--format", "md", "--lang", "zh"]) == 0
    assert "| 步骤 | 类型 | 请求 | 返回 |" in capsys.readouterr().out
    assert run(["show", str(trace_file), "--format", "html"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")


def test_show_writes_output_file(trace_file, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert run(["show", str(trace_file), "--format", "html", "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_diff(trace_file, tmp_path, capsys):
    other = seed000_trace()
    del other.sessions[0].steps[0]
    b = tmp_path / "b.json"
    write_atomically(b, other.to_json())
    assert run(["diff", str(trace_file), str(b), "--wide"]) == 0
    assert "1 only in A" in capsys.readouterr().out
    assert run(["diff", str(trace_file), str(b), "--format", "md"]) == 0
    assert "| - | 1 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ('{"schema": "pulltrace-trace", "version": 99}', "version 99 is not supported"),
        ('{"schema": "pulltrace-trace", "version": 1, "sessions": [{"steps": 3}]}', "malformed trace"),
    ],
)
def test_bad_input_is_one_user_error(tmp_path, content, message):
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message):
        run(["show", str(path)])


def test_not_a_trace(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(UserError, match="notes.txt: not a mitmproxy flow file, HAR or trace JSON"):
        run(["show", str(path)])


def test_output_into_missing_directory(trace_file, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        run(["show", str(trace_file), "-o", str(tmp_path / "no" / "r.txt")])


def test_har_goes_through_the_importers_when_present(tmp_path, capsys):
    pytest.importorskip("pulltrace.capture.importers")
    har = {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [{
        "startedDateTime": "2018-01-28T02:35:17.000Z", "time": 31,
        "request": {"method": "GET", "url": "https://daocloud.io/v2/", "httpVersion": "HTTP/1.1",
                    "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 401, "statusText": "Unauthorized", "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "Www-Authenticate",
                                  "value": "Bearer realm=\"https://auth.test/token\",service=\"daocloud.io\""}],
                     "cookies": [], "content": {"size": 0, "mimeType": "application/json"},
                     "redirectURL": "", "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 0, "wait": 31, "receive": 0}}]}}
    path = tmp_path / "pull.har"
    path.write_text(json.dumps(har))
    assert run(["show", str(path)]) == 0
    assert "GET /v2/" in capsys.readouterr().out
