"""Every command that reads a file, given a bad one: one line, a non-zero exit, no traceback,
no output file, and no hang (a FIFO is refused before it is opened)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pulltrace.commands.main import main

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "lab" / "docker-hub-multi.json"


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(SAMPLE.read_bytes()[:5000])
    flows = tmp_path / "capture.flow"
    flows.write_bytes(b"123456789012:" + b"x" * 100)  # a flow frame announcing a terabyte
    garbage = tmp_path / "notes.txt"
    garbage.write_bytes(b"\x00\xff\xfe not a capture \x1b[2J")
    return {
        "directory": (folder, "is a directory"),
        "fifo": (fifo, "not a regular file"),
        "device": (Path("/dev/null"), "not a regular file"),
        "symlink loop": (loop, "symbolic link loop"),
        "missing": (tmp_path / "nope.json", "no such file"),
        "empty": (empty, "empty file"),
        "truncated JSON": (truncated, "not valid JSON"),
        "flow with a huge length": (flows, ""),
        "wrong format": (garbage, ""),
    }


COMMANDS = {
    "report": lambda f, out: ["report", str(f), "-o", str(out)],
    "show": lambda f, out: ["show", str(f), "-o", str(out)],
    "diff": lambda f, out: ["diff", str(SAMPLE), str(f), "-o", str(out)],
    "doctor": lambda f, out: ["doctor", "--capture", str(f), "--save-trace", str(out)],
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_bad_file_is_one_line_and_leaves_nothing(command, tmp_path, capsys):
    for case, (path, words) in _bad_files(tmp_path).items():
        out = tmp_path / f"out-{command}.txt"
        assert main(COMMANDS[command](path, out)) == 1, case
        captured = capsys.readouterr()
        err = captured.err
        assert err.startswith("pulltrace: ") and err.count("\n") == 1, (case, err)
        assert "Traceback" not in err + captured.out, case
        assert words in err, (case, err)
        assert not out.exists(), case
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out-")], case  # no temp file left
