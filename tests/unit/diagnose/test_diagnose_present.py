"""How the doctor prints a finding: long step lists wrap at 80 columns, never inside a label."""

from __future__ import annotations

from diagnose_recorded import CDN, HUB, healthy_hub_pull

from pulltrace.diagnose.base import finding
from pulltrace.diagnose.present import WIDTH, format_finding
from pulltrace.model import Severity, StepKind


def test_a_redirect_loop_step_list_wraps_between_labels():
    r = healthy_hub_pull()
    blob = f"https://{HUB}/v2/library/tiny/blobs/sha256:{'a' * 64}"
    cdn = f"https://{CDN}/v2/library/tiny/blobs/sha256:{'a' * 64}"
    steps = []
    for _ in range(8):
        steps.append(r.add(StepKind.BLOB_REDIRECT, "GET", blob, 307, response_headers=[("Location", cdn)]))
        steps.append(r.add(StepKind.CDN_DOWNLOAD, "GET", cdn, 307, response_headers=[("Location", blob)]))
    session = r.session()
    text = format_finding(session, finding("blob.redirect-loop", Severity.ERROR, "loop", "why", "fix", steps))
    lines = text.splitlines()
    step_lines = [line for line in lines if line.startswith("  steps: ") or (line.startswith("         #"))]
    assert len(step_lines) > 1 and all(len(line) <= WIDTH for line in step_lines)
    # Every label stays whole: `#12 cdn-download`, never `#12` at a line's end.
    assert not any(line.rstrip().split(" ")[-1].startswith("#") for line in step_lines)
    labels = " ".join(line[9:] for line in step_lines).split(", ")
    assert len(labels) == 16 and labels[0].endswith("blob-redirect")
