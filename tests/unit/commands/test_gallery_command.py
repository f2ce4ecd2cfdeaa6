"""`pulltrace gallery DIR…`: a user's captures rendered with an index, nothing of theirs lost."""

from __future__ import annotations

from render_factory import hub_alpine_trace, seed000_trace

from pulltrace.commands.main import main
from pulltrace.model import write_atomically
from pulltrace.render.outputs import render


def _captures(tmp_path):
    folder = tmp_path / "captures"
    (folder / "monday").mkdir(parents=True)
    write_atomically(folder / "hub.json", hub_alpine_trace().to_json())
    write_atomically(folder / "monday" / "daocloud.har", render(seed000_trace(), "har"))
    (folder / "notes.json").write_text('{"todo": "not a capture"}')
    (folder / "readme.txt").write_text("not even looked at")
    return folder


def test_every_capture_gets_a_report_and_the_index_links_them(tmp_path, capsys):
    out = tmp_path / "gallery"
    out.mkdir()
    (out / "mine.html").write_text("the user's own page")
    assert main(["gallery", str(_captures(tmp_path)), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 reports and an index" in printed
    assert "1 files skipped" in printed and "notes.json" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "hub.html", "hub.md", "index.html", "mine.html", "monday-daocloud.html", "monday-daocloud.md"]
    index = (out / "index.html").read_text()
    assert 'href="hub.html"' in index and 'href="monday-daocloud.html"' in index
    assert (out / "mine.html").read_text() == "the user's own page"


def test_two_folders_are_told_apart_by_their_names(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        write_atomically(folder / "pull.json", hub_alpine_trace().to_json())
    assert main(["gallery", str(a), str(b), "-o", str(tmp_path / "out")]) == 0
    assert {p.name for p in (tmp_path / "out").glob("*.html")} == {"a-pull.html", "b-pull.html", "index.html"}


def test_a_folder_without_captures_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["gallery", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pulltrace: no capture found under") and err.count("\n") == 1
    assert main(["gallery", str(tmp_path / "missing")]) == 1
    assert "no such folder" in capsys.readouterr().err
