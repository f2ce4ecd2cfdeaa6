"""pulltrace.jsonl at fleet scale: the node in every line, size-based rotation, many nodes' files
merged by `pulltrace report` into the fleet view."""

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from pulltrace.capture import jsonl
from pulltrace.commands.load import load_trace
from pulltrace.commands.main import main
from pulltrace.model import Session
from pulltrace.model import load_trace as load_trace_json
from pulltrace.pipeline import build_trace
from pulltrace.render.fleet import fleet_view

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples" / "lab"


def _sessions(name: str) -> list[Session]:
    """A recorded capture, rebuilt as the addon's engine would close it."""
    saved = load_trace_json(SAMPLES / f"{name}.json")
    exchanges = sorted((st.exchange for s in saved.sessions for st in s.steps), key=lambda e: e.started_at)
    return build_trace(exchanges, source="mitmproxy").sessions


def _write(path: Path, node: str, *names: str, max_bytes: int | None = None) -> jsonl.JsonlWriter:
    w = jsonl.JsonlWriter(path, source="mitmproxy", tool_version="9.9", started_at=5.0, node=node,
                          max_bytes=max_bytes)
    for name in names:
        for s in _sessions(name):
            s.node = node  # as the recorder stamps each session it hands out
            w.write(s)
    w.close()
    return w


def test_the_node_is_in_the_header_and_every_session_line(tmp_path):
    path = tmp_path / "pulltrace.jsonl"
    _write(path, "fleet-a", "docker-tiny-plus-after-tiny")
    header, *lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert header["node"] == "fleet-a"
    assert [line["node"] for line in lines] == ["fleet-a", "fleet-a"]
    schemas = {n: json.loads((ROOT / "pulltrace" / n).read_text())
               for n in ("jsonl-v1.schema.json", "trace-v2.schema.json")}
    registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in schemas.values()])
    validator = jsonschema.Draft202012Validator(schemas["jsonl-v1.schema.json"], registry=registry)
    for line in [header, *lines]:
        validator.validate(line)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**lines[0], "node": 7})


def test_a_session_line_without_a_node_takes_the_headers(tmp_path):
    path = tmp_path / "old.jsonl"
    w = jsonl.JsonlWriter(path, source="mitmproxy", tool_version="9.9", started_at=5.0, node="fleet-z")
    for s in _sessions("docker-hub-multi"):
        w.write(s)  # not stamped: as a writer outside the addon would
    w.close()
    assert [s.node for s in jsonl.read_sessions(path)] == ["fleet-z"]


def test_rotation_by_size_keeps_every_pull_whole_and_the_newest_under_the_name(tmp_path):
    path = tmp_path / "pulltrace.jsonl"
    names = ["docker-hub-multi", "docker-gcr-three", "docker-harbor-tiny", "docker-mirror-tiny"]
    w = _write(path, "fleet-a", *names, max_bytes=1)  # every pull gets a part of its own
    parts = [path.with_name(f"pulltrace.jsonl.{n}") for n in (3, 2, 1)] + [path]
    assert w.files() == parts
    assert not path.with_name("pulltrace.jsonl.4").exists()
    images = []
    for part in parts:
        header, *lines = part.read_text().splitlines()
        assert json.loads(header)["node"] == "fleet-a"
        assert len(lines) == 1
        images.append(json.loads(lines[0])["summary"]["image"].split("/", 1)[0])
    assert images == ["hub.pulltrace.test", "gcr.pulltrace.test", "harbor.pulltrace.test", "mirror.pulltrace.test"]
    assert jsonl.rotated_parts(path) == parts[:-1]
    # The exit reports read every part, oldest first.
    assert [s.summary.image for s in jsonl.load_trace(*w.files()).sessions] == [
        s.summary.image for name in names for s in _sessions(name)]


def test_rotation_waits_for_the_size(tmp_path):
    path = tmp_path / "pulltrace.jsonl"
    w = _write(path, "fleet-a", "docker-hub-multi", "docker-gcr-three", max_bytes=10 * 1024 * 1024)
    assert w.files() == [path]


def test_a_new_capture_drops_the_parts_of_the_last(tmp_path):
    path = tmp_path / "pulltrace.jsonl"
    _write(path, "fleet-a", "docker-hub-multi", "docker-gcr-three", max_bytes=1)
    assert path.with_name("pulltrace.jsonl.1").exists()
    w = _write(path, "fleet-a", "docker-mirror-tiny")
    assert w.files() == [path] and not path.with_name("pulltrace.jsonl.1").exists()


def _fleet(tmp_path: Path) -> list[Path]:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "b-earlier.jsonl"
    _write(a, "fleet-a", "docker-tiny-plus-after-tiny")
    _write(c, "fleet-b", "doctor-alice-denied")
    _write(b, "fleet-b", "docker-hub-multi")
    return [a, b, c]


def test_the_loader_keeps_each_nodes_pulls_apart_and_names_their_node(tmp_path):
    trace = load_trace(_fleet(tmp_path))
    assert [(s.id, s.node, s.summary.image.split("/", 1)[1]) for s in trace.sessions] == sorted(
        [(s.id, s.node, s.summary.image.split("/", 1)[1]) for s in trace.sessions], key=lambda r: int(r[0][1:]))
    by_node = sorted((s.node, s.summary.image.split("/", 1)[1]) for s in trace.sessions)
    assert by_node == [("fleet-a", "library/tiny-plus:latest"), ("fleet-a", "library/tiny:latest"),
                       ("fleet-b", "library/multi:latest"), ("fleet-b", "private/secret:latest")]
    assert [s.id for s in trace.sessions] == ["s1", "s2", "s3", "s4"]


def test_the_fleet_view_rows(tmp_path):
    view = fleet_view(load_trace(_fleet(tmp_path)))
    assert (view.pulls, view.failed) == (4, 1)
    assert [(n.node, n.pulls, n.failed, len(n.images)) for n in view.nodes] == [("fleet-a", 2, 0, 2),
                                                                               ("fleet-b", 2, 1, 2)]
    assert [(i.image.split("/", 1)[1], i.pulls, sorted(i.nodes)) for i in view.images][:1] == [
        ("library/multi:latest", 1, ["fleet-b"])]
    (failure,) = view.failures
    assert (failure.node, failure.image.split("/", 1)[1]) == ("fleet-b", "private/secret:latest")
    assert [f[0] for f in failure.findings] == ["error"]
    hub = next(h for h in view.hosts if h.host == "hub.pulltrace.test")
    assert sorted(hub.nodes) == ["fleet-a", "fleet-b"]
    assert hub.statuses["401"] >= 4  # each pull's ping challenge, and alice's denied scope
    assert view.layers and all(r.duration_ms >= view.layers[-1].duration_ms for r in view.layers)


def test_report_of_several_nodes_is_the_fleet_view(tmp_path, capsys):
    files = [str(p) for p in _fleet(tmp_path)]
    assert main(["report", *files]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Fleet\n=====\n4 pulls on 2 nodes (fleet-a, fleet-b), 4 images, 1 failed; ")
    for section in ("Per node", "Per image", "Per serving host", "Slowest layers", "Failures"):
        assert f"\n{section}\n" in out
    assert "fleet-b s" in out and "private/secret:latest" in out
    md = tmp_path / "fleet.md"
    assert main(["report", *files, "-o", str(md)]) == 0
    assert md.read_text().startswith("# Fleet\n")
    # Asked for plainly, it is the step tables.
    assert main(["report", *files, "--format", "text"]) == 0
    assert "Fleet\n=====" not in capsys.readouterr().out


def test_one_nodes_files_are_the_usual_report(tmp_path, capsys):
    a = tmp_path / "a.jsonl"
    _write(a, "fleet-a", "docker-hub-multi")
    assert main(["report", str(a)]) == 0
    assert "Fleet\n=====" not in capsys.readouterr().out
    assert main(["report", str(a), "--format", "fleet"]) == 0
    assert capsys.readouterr().out.startswith("Fleet\n=====\n1 pull on 1 node (fleet-a), 1 image, 0 failed; ")
