"""`pulltrace pull` refuses bad input in one line before touching the network."""

from __future__ import annotations

import pytest

from pulltrace.commands.main import main
from pulltrace.commands.pull import default_output
from pulltrace.reference import parse_reference


@pytest.mark.parametrize("args,message", [
    (["Bad//Ref"], "invalid image reference"),
    (["alpine", "--platform", "linux"], "invalid platform 'linux'"),
    (["alpine", "--jobs", "0"], "--jobs must be at least 1"),
    (["alpine", "-p", "x"], "--password needs --username"),
    (["alpine", "-u", "x"], "--username needs --password-stdin"),
    (["alpine", "--password-stdin"], "--password-stdin needs --username"),
    (["alpine", "-o", "/nonexistent/dir/x.tar"], "does not exist"),
    (["alpine", "--mirror", "ftp://m"], "is not an http(s) URL"),
    (["alpine", "--ca-cert", "/nonexistent.pem"], "no such file"),
], ids=["reference", "platform", "jobs", "password", "username", "stdin", "output", "mirror", "ca"])
def test_bad_input_is_one_line(capsys, args, message):
    assert main(["pull", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pulltrace: ") and err.count("\n") == 1
    assert message in err


def test_default_output_names():
    assert str(default_output(parse_reference("alpine"), "docker-archive")) == "alpine_latest.tar"
    assert str(default_output(parse_reference("hub.pulltrace.test/team/app:1.2"), "oci")) == "app_1.2"
