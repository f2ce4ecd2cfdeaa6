"""`mitmdump -s addons/pulltrace.py -w pull.flows`: the flow file keeps pulltrace's names.

Real skopeo pulls through a real mitmdump; the file is read back with mitmproxy's own reader
and filtered by mitmproxy's own `mitmdump -nr FILE FILTER`, as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from capturehelpers import proxy_env
from mitmproxy import http
from mitmproxy.io import FlowReader

from devtools.mitmdump import mitmdump_executable

pytestmark = pytest.mark.lab

WITH_FLOWS = pytest.mark.parametrize("mitm", [{"flows": True}], indirect=True, ids=["addon+flows"])


def skopeo(mitm, tmp_path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    certs = tmp_path / "certs"
    if not certs.exists():
        certs.mkdir()
        shutil.copy(mitm.ca_cert, certs / "mitmproxy.crt")
    flag = "--src-cert-dir" if args[0] == "copy" else "--cert-dir"
    return subprocess.run(["skopeo", args[0], flag, str(certs), *args[1:]], env=proxy_env(mitm), check=check,
                          capture_output=True, timeout=180)


def replay_filter(path, expression: str) -> list[str]:
    """The request lines `mitmdump -nr FILE FILTER` prints: mitmproxy's own filter over the file."""
    env = {**os.environ, "COLUMNS": "1000"}  # mitmdump cuts request lines to the terminal's width
    out = subprocess.run([str(mitmdump_executable()), "-n", "-r", str(path), "--set", "flow_detail=1", expression],
                         capture_output=True, text=True, timeout=60, check=True, env=env).stdout
    return [line.split(": ", 1)[1] for line in out.splitlines() if line and not line.startswith((" ", "["))]


@WITH_FLOWS
def test_the_w_flow_file_keeps_each_registry_flows_comment_mark_and_metadata(lab, mitm, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    hub = lab.host("hub")
    skopeo(mitm, tmp_path, "copy", "--override-os", "linux", "--override-arch", "amd64",
           f"docker://{hub}/library/multi:latest", f"dir:{tmp_path / 'image'}")
    missing = skopeo(mitm, tmp_path, "inspect", f"docker://{hub}/library/multi:no-such-tag", check=False)
    assert missing.returncode != 0
    trace = mitm.trace()  # stops mitmdump: the last pull closes, then Save closes the file

    with mitm.flows.open("rb") as fo:
        flows = [f for f in FlowReader(fo).stream() if isinstance(f, http.HTTPFlow)]
    steps = {st.id: (s, st) for s in trace.sessions for st in s.steps}
    assert len({f.id for f in flows}) == len(flows) == len(steps)  # every flow once, none lost
    assert {f.id for f in flows} == set(steps)

    numbers = {s.id: n for n, s in enumerate(trace.sessions, 1)}
    for f in flows:
        session, step = steps[f.id]
        meta = f.metadata["pulltrace"]
        assert (meta["kind"], meta["step"], meta["pull"], meta["session"]) == (
            step.kind.value, step.index, numbers[session.id], session.id)
        assert f.comment.startswith(f"#{step.index} ")
        assert f.comment.split(" · ")[-1].startswith(f"pull {numbers[session.id]} ") or step.exchange.error

    copy = next(s for s in trace.sessions if s.summary.image == f"{hub}/library/multi:latest")
    n = numbers[copy.id]
    by_id = {f.id: f for f in flows}
    comments = [by_id[st.id].comment for st in copy.steps]
    image = f"{hub}/library/multi:latest"
    assert comments[:4] == [f"#1 ping · pull {n} {image}", f"#2 token · pull {n} {image}",
                            f"#3 manifest index · pull {n} {image}", f"#4 manifest · pull {n} {image}"], comments
    assert any(c.startswith("#") and " CDN download · layer 1/" in c for c in comments), comments
    assert not any(by_id[st.id].marked for st in copy.steps)

    # The unknown tag: its manifest's 404 is the one failed step, and marked.
    failed = next(s for s in trace.sessions if s.summary.image == f"{hub}/library/multi:no-such-tag")
    marked = [by_id[st.id] for st in failed.steps if by_id[st.id].marked]
    assert [(f.marked, f.response.status_code, f.request.path) for f in marked] == [
        (":exclamation:", 404, "/v2/library/multi/manifests/no-such-tag")]

    # mitmproxy's own filters over the file: ~marked, ~comment, ~meta.
    assert replay_filter(mitm.flows, "~marked") == [f"GET https://{hub}/v2/library/multi/manifests/no-such-tag"]
    assert replay_filter(mitm.flows, "~meta \"'kind': 'manifest-index'\"") == [
        f"GET https://{hub}/v2/library/multi/manifests/latest"]
    downloads = replay_filter(mitm.flows, f'~comment "CDN download · layer .* · pull {n} "')
    layers = [st for st in copy.steps if st.kind.value == "cdn-download" and st.role != "config"]
    assert len(downloads) == len(layers) >= 1
    assert all(line.startswith(f"GET https://{lab.host('cdn')}/") for line in downloads)
