"""One CLI vocabulary: a flag means one thing in every subcommand, every --help ends with
examples and the exit statuses, a wrong flag shows that subcommand's usage."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pulltrace.commands.main import COMMANDS, Exit, build_parser, main
from pulltrace.commands.vocabulary import colour_wanted

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option string of a parser and the destination it sets."""
    return {opt: a.dest for a in parser._actions for opt in a.option_strings if opt.startswith("--")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_ends_with_examples_and_exit_statuses(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    examples = out.index("examples:\n")
    assert "pulltrace" in out[examples:].splitlines()[1] or "mitmdump" in out[examples:].splitlines()[1]
    assert out.rstrip().endswith("130  interrupted (Ctrl-C)")


def test_a_flag_sets_the_same_thing_wherever_it_appears():
    meaning: dict[str, tuple[str, str]] = {}
    for name, parser in _subparsers().items():
        for flag, dest in _flags(parser).items():
            if flag == "--help":
                continue
            first = meaning.setdefault(flag, (name, dest))
            assert first[1] == dest, f"{flag} sets {first[1]} in {first[0]} but {dest} in {name}"


def test_reading_a_capture_and_writing_a_trace_have_different_names():
    commands = _subparsers()
    assert _flags(commands["pull"])["--save-trace"] == "save_trace"
    assert _flags(commands["doctor"])["--save-trace"] == "save_trace"
    assert _flags(commands["doctor"])["--capture"] == "capture"
    assert "--trace" not in _flags(commands["pull"])


def test_report_and_show_share_their_flags():
    commands = _subparsers()
    assert _flags(commands["report"]) == _flags(commands["show"])
    for flag in ("--output", "--format", "--lang", "--wide", "--show-secrets", "--color"):
        assert flag in _flags(commands["report"])


def test_a_wrong_flag_shows_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["report", "capture.flow", "--no-such-flag"])
    assert e.value.code == Exit.USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: pulltrace report")
    assert "unrecognized arguments: --no-such-flag" in err


def test_colour_follows_the_flag_the_terminal_and_no_color():
    class Tty:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    assert colour_wanted("auto", Tty(), env={}) is True
    assert colour_wanted("auto", Tty(), env={"NO_COLOR": "1"}) is False
    assert colour_wanted("auto", Tty(), env={"NO_COLOR": ""}) is True  # no-color.org: set and not empty
    assert colour_wanted("auto", Pipe(), env={}) is False
    assert colour_wanted("always", Pipe(), env={"NO_COLOR": "1"}) is True
    assert colour_wanted("never", Tty(), env={}) is False


def test_doctor_json_names_the_findings_and_the_verdict(capsys):
    assert main(["doctor", "--capture", str(SAMPLES / "lab" / "doctor-alice-denied.json"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["healthy"] is False
    assert [f["rule"] for f in doc["findings"]] == ["auth.insufficient-scope"]
    (session,) = doc["sessions"]
    assert session["image"] == "hub.pulltrace.test/private/secret:latest"
    assert session["findings"][0]["severity"] == "error"


def test_doctor_json_on_a_healthy_pull(capsys):
    assert main(["doctor", "--capture", str(SAMPLES / "lab" / "docker-hub-multi.json"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["healthy"] is True
    assert not [f for f in doc["findings"] if f["severity"] == "error"]


def test_lab_status_of_a_lab_never_brought_up_fails(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PULLTRACE_LAB_DIR", str(tmp_path))
    assert main(["lab", "status", "--json"]) == Exit.FAILURE
    assert "never brought up" in capsys.readouterr().out


def test_completion_prints_shell_code(capsys):
    assert main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and "pulltrace" in out


def test_the_shell_is_offered_the_subcommands(tmp_path):
    answers = tmp_path / "completions"
    line = "pulltrace sh"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(answers), "_ARGCOMPLETE_IFS": "\n"}
    subprocess.run([sys.executable, "-m", "pulltrace"], env=env, check=True, capture_output=True, timeout=60)
    assert answers.read_text().split() == ["show"]
