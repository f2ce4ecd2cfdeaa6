"""`pulltrace report` and `pulltrace addon-path` as a user runs them."""

import json
from pathlib import Path

from pulltrace.commands.main import main

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds"


def test_addon_path_names_a_loadable_file(capsys):
    assert main(["addon-path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_file() and path.name == "script.py"
    assert "addons = [PullTrace()]" in path.read_text()


def test_report_merges_files_and_picks_the_format_from_the_suffix(tmp_path):
    out = tmp_path / "r.json"
    assert main(["report", str(SEEDS / "004-harbor-login.json"), str(SEEDS / "004-harbor-pull.json"),
                 "-o", str(out)]) == 0
    trace = json.loads(out.read_text())
    assert [s["action"] for s in trace["sessions"]] == ["login", "pull"]
    assert trace["source"] == "004-harbor-login.json, 004-harbor-pull.json"


def test_report_text_to_stdout(capsys):
    assert main(["report", str(SEEDS / "001-gcr-kube-controller-manager.json")]) == 0
    out = capsys.readouterr().out
    assert "gcr.io/google-containers/kube-controller-manager:v1.16.10" in out
    assert "CDN download" in out


def test_user_mistakes_are_one_line_and_leave_no_file(tmp_path, capsys):
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {"entries": [{"request": {}}]}}')
    out = tmp_path / "r.html"
    assert main(["report", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pulltrace: ") and "\n" not in err and "malformed" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    assert main(["report", str(tmp_path / "missing.flows")]) == 1
    assert "no such file" in capsys.readouterr().err
