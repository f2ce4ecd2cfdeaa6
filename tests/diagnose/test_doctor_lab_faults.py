"""`pulltrace doctor` and `pulltrace pull` against the lab's fault hosts: nginx answering as
Docker Hub does when its quota is low or spent, object storage refusing an expired signed
URL, and a CDN redirecting back to the registry.

The doctor must name the fault first; the built-in client must stop with one line on stderr,
no traceback, and no image file.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_doctor_lab import doctor

from pulltrace.lab import faults

pytestmark = pytest.mark.lab


def _one_finding_head(out: str, rule: str) -> str:
    """The title line of the first finding, checked to be a single line."""
    lines = out.splitlines()
    at = lines.index(f"  rule:  {rule}")
    return lines[at - 1]


def test_quota_headers_are_reported(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('quota')}/library/tiny")
    assert status == 0, out
    assert found[0] == ("info", "ratelimit.quota"), out
    assert [f for f in found if f[0] != "info"] == [], out
    head = _one_finding_head(out, "ratelimit.quota")
    assert head == f"info  {lab.host('quota')} rate limit: {faults.QUOTA_REMAINING} of 100 pulls left per 6 h " \
                   "counted for 127.0.0.1"
    assert f"RateLimit-Limit {faults.RATE_LIMIT}" in out


def test_spent_quota_is_the_first_error(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('ratelimit')}/library/tiny")
    assert status == 1, out
    assert found[0] == ("ERROR", "ratelimit.exceeded"), out
    assert _one_finding_head(out, "ratelimit.exceeded") == \
        f"ERROR  {lab.host('ratelimit')} refused the pull: rate limit reached"
    assert "0 of 100 pulls left" in out
    assert f"wait {faults.RETRY_AFTER} s (Retry-After)" in out
    assert "ratelimit.quota" not in [rule for _, rule in found]  # the refusal says it all
    assert "Traceback" not in out


def test_expired_signed_url_is_the_first_error(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('expired')}/library/tiny")
    assert status == 1, out
    assert found[0] == ("ERROR", "blob.cdn-refused"), out
    assert _one_finding_head(out, "blob.cdn-refused") == \
        f"ERROR  The download host {lab.host('expired-cdn')} refused the blob"
    flat = " ".join(out.split())
    assert f"({faults.EXPIRED_CODE}: {faults.EXPIRED_MESSAGE})" in flat
    assert "blob.auth-to-cdn" not in [rule for _, rule in found]  # the client dropped the token
    assert "X-Amz-Signature" not in out  # the cause names the path, never the signature


def test_redirect_loop_is_the_first_error(lab, capsys):
    status, found, out = doctor(capsys, f"{lab.host('loop')}/library/tiny")
    assert status == 1, out
    assert found[0] == ("ERROR", "blob.redirect-loop"), out
    assert _one_finding_head(out, "blob.redirect-loop") == \
        f"ERROR  The download redirects in a loop ({lab.host('loop')} → {lab.host('loop-cdn')})"
    assert all(len(line) <= 80 for line in out.splitlines() if line.startswith(("  steps:", "         #"))), out


def _pull(tmp_path, ref: str) -> tuple[subprocess.CompletedProcess[str], object]:
    output = tmp_path / "out" / "image.tar"
    output.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pulltrace", "pull", "-q", "--cache", str(tmp_path / "cache"), "-o", str(output), ref],
        capture_output=True, text=True, timeout=120)
    return proc, output


@pytest.mark.parametrize("name, expected", [
    ("ratelimit", "is rate-limiting pulls (429: You have reached your pull rate limit"),
    ("expired",
     "the download host {expired-cdn} refused the registry's redirect (403: AccessDenied: Request has expired)"),
    ("loop", "more than 10 redirects starting at https://{loop}/v2/library/tiny/blobs/sha256:"),
])
def test_pull_stops_with_one_line_and_writes_nothing(lab, tmp_path, name, expected):
    proc, output = _pull(tmp_path, f"{lab.host(name)}/library/tiny")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pulltrace: "), proc.stderr
    assert expected.format(**{"expired-cdn": lab.host("expired-cdn"), "loop": lab.host("loop")}) in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert list(output.parent.iterdir()) == []  # no image, no half-written temp file


def test_pull_with_quota_headers_succeeds(lab, tmp_path):
    proc, output = _pull(tmp_path, f"{lab.host('quota')}/library/tiny")
    assert proc.returncode == 0, proc.stderr
    assert output.is_file() and proc.stderr == ""
