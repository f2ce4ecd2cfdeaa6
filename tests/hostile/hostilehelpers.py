"""Helpers for the hostile-registry tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

from pulltrace.commands.main import main
from pulltrace.model import load_trace


def pull(capsys, tmp_path: Path, ref: str, *extra: str, out_name: str = "image.tar") -> tuple[int, str, Path]:
    """`pulltrace pull REF -o tmp/image.tar` in-process: (exit status, stderr, the output path)."""
    out = tmp_path / out_name
    code = main(["pull", ref, "-q", "-o", str(out), "--cache", str(tmp_path / "cache"), *extra])
    return code, capsys.readouterr().err, out


def assert_refused(code: int, err: str, out: Path, starts: str) -> None:
    """One line on stderr, exit status 1, no image and no temp file beside it."""
    assert code == 1, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith("pulltrace: " + starts), err
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith("." + out.name)] == []


def trace_urls(path: Path) -> list[str]:
    return [s.exchange.url for session in load_trace(path).sessions for s in session.steps]


def altered(body: bytes) -> bytes:
    """The same manifest, still valid JSON, with one annotation more: another digest."""
    data = json.loads(body)
    data.setdefault("annotations", {})["org.example.altered"] = "in flight"
    return json.dumps(data).encode()
