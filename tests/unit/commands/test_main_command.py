import subprocess
import sys

import pytest

from pulltrace.commands.main import COMMANDS, Exit, main


def test_no_command_prints_help_and_says_usage(capsys):
    assert main([]) == Exit.USAGE
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_pull_starts_without_loading_the_proxy_or_the_templates():
    """`pulltrace pull` is timed against skopeo: it must not import mitmproxy or jinja2."""
    code = (
        "import sys\n"
        "from pulltrace.commands.main import build_parser\n"
        "build_parser('pull')\n"
        "print(sorted(m for m in ('mitmproxy', 'jinja2', 'pulltrace.diagnose') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
