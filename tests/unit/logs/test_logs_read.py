"""read_log: recognised by content, streamed, never stopped by a bad line; several logs merged."""

import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from logsdata import DATA

from pulltrace.capture.logs import FORMATS, LogFormatError, detect, read_log
from pulltrace.capture.logs.base import MAX_LINE
from pulltrace.commands.load import load_trace
from pulltrace.commands.main import main


@pytest.mark.parametrize(("name", "fmt"), [
    ("registry-hub-docker-three.log", "distribution"),
    ("nginx-docker-three.log", "pulltrace-lab"),
    ("cdn-docker-three.log", "pulltrace-lab"),
    ("token-docker-three.log", "pulltrace-token"),
    ("ctr-debug-three.log", "containerd"),
])
def test_each_recorded_log_is_recognised_by_its_content(tmp_path, name, fmt):
    copy = tmp_path / "renamed.txt"  # the name says nothing
    shutil.copy(DATA / name, copy)
    found, _ = detect(copy)
    assert found.name == fmt


def test_a_trace_json_or_har_is_no_log(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{\n  "schema": "pulltrace-trace",\n  "version": 1\n}\n')
    assert detect(path) is None


def test_bad_lines_are_counted_with_the_first_line_number(tmp_path):
    lines = (DATA / "nginx-docker-three.log").read_bytes().splitlines(keepends=True)
    path = tmp_path / "access.log"
    bad = [b"\x00\x01\x02 binary garbage\n", b"not a log line\n", b"x" * (MAX_LINE + 10) + b"\n",
           "caf\xe9 latin-1 bytes\n".encode("latin-1")]
    path.write_bytes(lines[0] + b"".join(bad) + b"".join(lines[1:]) + b"\xff\xfe" * 10 + b"\n")
    log = read_log(path, fmt="pulltrace-lab")
    assert len(list(log.exchanges)) == len(lines)
    assert (log.not_understood, log.first_not_understood, log.too_long) == (5, 2, 1)
    assert log.notes()[-1] == "access.log: 5 lines not understood, first at line 2 (1 longer than 64 KiB)."


def test_a_line_of_a_gigabyte_without_newline_is_skipped_in_bounded_reads(tmp_path):
    path = tmp_path / "huge.log"
    first = (DATA / "nginx-docker-three.log").read_bytes().splitlines(keepends=True)[0]
    with path.open("wb") as f:
        f.write(first)
        f.write(b"y" * (8 * MAX_LINE))  # no newline to the end of the file
    log = read_log(path, fmt="pulltrace-lab")
    assert len(list(log.exchanges)) == 1
    assert (log.not_understood, log.too_long) == (1, 1)


def test_secrets_in_logged_urls_are_masked(tmp_path):
    path = tmp_path / "cdn.log"
    path.write_text('2026-12-01T20:10:07+00:00 127.0.0.1 expired-cdn.pulltrace.test "GET /docker/registry/v2/blobs/'
                    'sha256/30/3016/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=6c1b5e0f3a7d HTTP/1.1" 403 '
                    '296 auth=absent ua="docker/20.10.24" rt=0.000\n')
    (ex,) = read_log(path).exchanges
    assert "6c1b5e0f3a7d" not in ex.url and "X-Amz-Signature=…" in ex.url
    (raw,) = read_log(path, show_secrets=True).exchanges
    assert "X-Amz-Signature=6c1b5e0f3a7d" in raw.url


def test_registry_token_and_cdn_logs_merge_into_one_pull():
    trace = load_trace([DATA / "registry-hub-docker-three.log", DATA / "token-docker-three.log",
                        DATA / "cdn-docker-three.log"])
    (pull,) = [s for s in trace.sessions if s.action == "pull"]
    assert pull.summary.image == "hub.pulltrace.test/library/three:latest"
    # The token log has seconds only: its token goes first in its second, before the ping.
    assert [s.kind.value for s in pull.steps] == (
        ["token", "ping", "manifest-head", "manifest"] + ["blob-redirect"] * 4 + ["cdn-download"] * 4)
    redirects = {s.id: s for s in pull.steps if s.kind.value == "blob-redirect"}
    for cdn in (s for s in pull.steps if s.kind.value == "cdn-download"):
        (origin,) = cdn.linked("follows")
        assert redirects[origin].reference == cdn.facts.digest
    assert pull.summary.scopes_granted == ["repository:library/three:pull"]  # what the token service logged
    assert pull.findings == []
    assert [n.split(":")[0] for n in trace.notes if "seen from" in n] == [
        "registry-hub-docker-three.log", "token-docker-three.log", "cdn-docker-three.log"]


def test_report_log_format_forces_a_format(tmp_path, capsys):
    path = tmp_path / "x.log"
    shutil.copy(DATA / "nginx-docker-three.log", path)
    assert main(["report", str(path), "--log-format", "pulltrace-lab", "--format", "json", "-o",
                 str(tmp_path / "t.json")]) == 0
    # Forced to a format its lines are not in: every line is counted, nothing is invented.
    assert main(["report", str(path), "--log-format", "containerd"]) != 0
    assert "nothing to report" in capsys.readouterr().err


def test_unknown_log_format_is_one_line():
    with pytest.raises(LogFormatError, match="unknown log format 'nginx'; known: combined"):
        read_log(DATA / "nginx-docker-three.log", fmt="nginx")


def test_every_format_reads_its_own_sample_line(tmp_path):
    for name, fmt in FORMATS.items():
        path = tmp_path / f"{name}.log"
        path.write_text(fmt.sample + "\n")
        found, _ = detect(path)
        assert found.name == name, name
        log = read_log(path)
        list(log.exchanges)
        assert log.not_understood == 0, name


_line = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.sampled_from([fmt.sample for fmt in FORMATS.values()]).flatmap(
        lambda s: st.integers(0, len(s)).map(lambda n: s[:n] + s[n + 1:])),  # a sample with a byte dropped
)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_line, max_size=8), fmt=st.sampled_from(sorted(FORMATS)))
def test_no_line_stops_an_import(tmp_path_factory, lines, fmt):
    path = tmp_path_factory.mktemp("p") / "any.log"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))
    log = read_log(path, fmt=fmt)
    got = list(log.exchanges)
    assert log.not_understood <= log.lines
    for ex in got:
        assert ex.method and ex.url.startswith(("http://", "https://")) and ex.id.startswith("any.log:")


def test_the_readme_lists_every_format_with_its_sample_line():
    readme = (DATA.parents[3] / "README.md").read_text(encoding="utf-8")
    for name, fmt in FORMATS.items():
        assert f"| `{name}` |" in readme
        assert fmt.sample.replace("|", "\\|") in readme, name


def test_a_rotated_gzip_log_is_read_as_it_is_unpacked(tmp_path):
    import gzip

    path = tmp_path / "access.log.2.gz"
    path.write_bytes(gzip.compress((DATA / "nginx-docker-three.log").read_bytes()))
    found, _ = detect(path)
    log = read_log(path)
    assert found.name == "pulltrace-lab" and len(list(log.exchanges)) == 8 and log.not_understood == 0
