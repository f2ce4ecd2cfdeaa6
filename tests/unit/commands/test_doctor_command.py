"""`pulltrace doctor --capture FILE`: exit status, what is printed first, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from diagnose_recorded import AUTH, CHALLENGE, HUB, Recorder, healthy_hub_pull

from pulltrace.commands.main import main
from pulltrace.model import StepKind, Trace, load_trace

SEED = Path(__file__).parents[3] / "samples" / "seeds" / "001-dockerhub-alpine.json"


def write_trace(tmp_path: Path, recorder: Recorder) -> Path:
    """Exchanges saved as a trace, the way `pulltrace pull --save-trace` or the addon write them."""
    path = tmp_path / "trace.json"
    path.write_text(Trace(sessions=[recorder.session()], source="test").to_json())
    return path


def wrong_password() -> Recorder:
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 401, response_headers=[("WWW-Authenticate", CHALLENGE)])
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?account=admin&scope=repository%3Alibrary%2Ftiny%3Apull&service={HUB}",
          401, request_headers=[("Authorization", "Basic YWRt…")], body='{"details":"incorrect username or password"}')
    return r


def test_healthy_trace_exits_zero(tmp_path, capsys):
    assert main(["doctor", "--capture", str(write_trace(tmp_path, healthy_hub_pull()))]) == 0
    out = capsys.readouterr().out
    assert "0 errors, 0 warnings" in out and "No problem found" in out


def test_failed_pull_exits_one_and_prints_the_cause_first(tmp_path, capsys):
    assert main(["doctor", "--capture", str(write_trace(tmp_path, wrong_password()))]) == 1
    out = capsys.readouterr().out
    first = next(line for line in out.splitlines() if line.startswith(("ERROR", "WARNING", "info")))
    assert first.startswith("ERROR") and "refused the username or password" in first
    assert "rule:  auth.wrong-credentials" in out and "steps: #2" in out


def test_steps_prints_the_table_then_the_findings(tmp_path, capsys):
    main(["doctor", "--steps", "--capture", str(write_trace(tmp_path, wrong_password()))])
    out = capsys.readouterr().out
    assert out.index("GET /v2/") < out.index("ERROR  The token service")
    assert out.count("refused the username or password") == 1


def test_save_trace_keeps_the_findings(tmp_path, capsys):
    saved = tmp_path / "diagnosed.json"
    main(["doctor", "--capture", str(write_trace(tmp_path, wrong_password())), "--save-trace", str(saved)])
    findings = [f.rule for s in load_trace(saved).sessions for f in s.findings]
    assert findings[0] == "auth.wrong-credentials"


@pytest.mark.skipif(not SEED.exists(), reason="seed samples not present")
def test_seed_trace(capsys):
    assert main(["doctor", "--capture", str(SEED)]) == 0
    assert "registry-1.docker.io/library/alpine" in capsys.readouterr().out


def test_empty_capture_says_nothing_went_through_the_proxy(tmp_path, capsys):
    path = tmp_path / "empty.json"
    path.write_text(Trace(source="test").to_json())
    assert main(["doctor", "--capture", str(path)]) == 0
    assert "Nothing of the pull was captured" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["doctor"], "give an image reference to pull, or --capture FILE"),
    (["doctor", "alpine", "--capture", "x.json"], "one of them"),
    (["doctor", "--capture", "/nonexistent/trace.json"], "no such file"),
    (["doctor", "--capture", "/nonexistent/trace.json", "--platform", "linux"], "--platform"),
])
def test_user_mistakes_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_not_a_capture_file(tmp_path, capsys):
    path = tmp_path / "notes.json"
    path.write_text('{"hello": "world"}')
    assert main(["doctor", "--capture", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and len(err.strip().splitlines()) == 1
