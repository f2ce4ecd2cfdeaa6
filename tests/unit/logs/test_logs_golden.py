"""Seed 003: the Harbor table the blog reads off its proxy log by hand, built from the log itself.
Regenerate: PULLTRACE_UPDATE_GOLDEN=1 pytest tests/unit/logs/test_logs_golden.py"""

import os

from logsdata import SAMPLES

from pulltrace.commands.load import load_trace
from pulltrace.render.markdown import render_markdown
from pulltrace.render.text import render_text

UPDATE = os.environ.get("PULLTRACE_UPDATE_GOLDEN") == "1"


def _check(got: str, golden_name: str) -> None:
    golden = SAMPLES / golden_name
    if UPDATE:
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")


def test_seed_003_table_from_the_harbor_log(harbor_log):
    trace = load_trace([harbor_log])
    browser, pull = trace.sessions
    # Line 1: Harbor's UI asking for tags, not part of the pull (the blog says so too).
    assert browser.action == "other" and browser.client.startswith("Mozilla/5.0")
    assert pull.summary.image == "003-harbor-proxy.invalid/ccloud/ccloud-server:master-20f6fe2"
    assert [s.kind.value for s in pull.steps] == ["ping", "token", "manifest"] + ["layer-blob"] * 5
    assert [s.exchange.status for s in pull.steps] == [401, 200, 200, 200, 200, 200, 200, 200]
    assert [s.exchange.response_bytes for s in pull.steps][3:] == [6196, 9441203, 7011088, 38996911, 60791498]
    assert [s.exchange.duration_ms for s in pull.steps] == [3.0, 32.0, 25.0, 5.0, 62.0, 143.0, 518.0, 697.0]
    assert pull.steps[1].facts.scopes == ["repository:ccloud/ccloud-server:pull"]
    assert pull.steps[1].facts.service == "harbor-registry"
    assert pull.steps[1].facts.account == "admin"
    # The blobs came straight from Harbor: no redirect, and the 401 is a challenge, not a failure.
    assert pull.findings == [] and pull.summary.errors == []
    assert [s.id for s in pull.steps] == [f"003-harbor-proxy.log:{n}" for n in range(2, 10)]
    assert any("cannot show response headers" in n for n in trace.notes)
    _check(render_text(trace), "003-harbor-proxy.txt")
    _check(render_markdown(trace), "003-harbor-proxy.md")


def test_the_log_shows_the_pull_the_seed_reconstruction_shows_minus_what_it_cannot_see(harbor_log):
    """samples/seeds/003-harbor-pull.json rebuilt seed 003 with Harbor's usual headers and a manifest
    body; the log alone gives the same requests, answers, sizes and times, and only the config blob
    (named by the manifest body the log does not hold) is not told apart."""
    from pathlib import Path

    from pulltrace.model import load_trace as load_json

    rebuilt = load_json(Path(__file__).resolve().parents[3] / "samples" / "seeds" / "003-harbor-pull.json")
    logged = load_trace([harbor_log])

    def rows(trace, forget_config: bool):
        out = []
        for session in trace.sessions:
            for s in session.steps:
                kind = "layer-blob" if forget_config and s.kind.value == "config-blob" else s.kind.value
                ex = s.exchange
                out.append((session.action, kind, ex.method, ex.url.split("/", 3)[3], ex.status, ex.duration_ms))
        return out

    assert rows(logged, False) == rows(rebuilt, True)
    sizes = [s.exchange.response_bytes for s in logged.all_steps()]
    assert sizes[2:] == [s.exchange.response_bytes for s in rebuilt.all_steps()][2:]
    # The log says the ping's 401 carried 87 bytes; the reconstruction wrote 86.
    assert (sizes[1], list(rebuilt.all_steps())[1].exchange.response_bytes) == (87, 86)
