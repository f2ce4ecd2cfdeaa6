"""`report`, `show` and `doctor --capture` read a file through one loader and one diagnosis,
so they name the same findings for the same file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pulltrace.commands.main import main

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
FILES = sorted(SAMPLES.rglob("*.json"))


def _report_rules(path: Path, capsys) -> list[str]:
    assert main(["report", str(path), "--format", "json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    return sorted(f["rule"] for s in trace["sessions"] for f in s["findings"])


def _doctor_rules(path: Path, capsys) -> list[str]:
    main(["doctor", "--capture", str(path)])
    return sorted(re.findall(r"^  rule:\s+(\S+)", capsys.readouterr().out, flags=re.M))


def _report_findings(path: Path, capsys) -> list[str]:
    assert main(["report", str(path), "--format", "json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    return sorted(f"[{f['severity']}] {f['title']}" for s in trace["sessions"] for f in s["findings"])


def _show_findings(path: Path, capsys) -> list[str]:
    assert main(["show", str(path), "--wide"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return sorted(re.sub(r" \(#[\d, #]+\)$", "", line[2:]) for line in lines if line.startswith("- ["))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_report_show_and_doctor_name_the_same_findings(path, capsys):
    assert _report_rules(path, capsys) == _doctor_rules(path, capsys)
    assert _report_findings(path, capsys) == _show_findings(path, capsys)


def test_a_failing_sample_is_among_them(capsys):
    # The comparison above means something only if some sample has findings.
    alice = SAMPLES / "lab" / "doctor-alice-denied.json"
    assert _report_rules(alice, capsys) == ["auth.insufficient-scope"]
    title = "Account 'alice' may not pull private/secret on hub.pulltrace.test"
    assert _show_findings(alice, capsys) == [f"[error] {title}"]
