"""A fleet in the lab: real docker pulls on two lab dockerds (fleet-a, fleet-b), each through a
mitmdump with the addon; Debian's real prometheus scrapes both, an OTLP receiver decodes
the traces, and `pulltrace report` merges both nodes' pulltrace.jsonl.

The nodes, the prometheus runner and the receiver are devtools' (the fleet demo's own).
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import httpx
import pytest

from devtools.fleet_demo import Node, Prometheus
from devtools.mitmdump import free_port
from devtools.otlp_receiver import OtlpReceiver
from pulltrace.capture import jsonl
from pulltrace.commands.main import main

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is not installed")]


@pytest.fixture(scope="session")
def ports():
    """One proxy port per node for the session: a lab dockerd reads its proxy at start."""
    return {"fleet-a": free_port(), "fleet-b": free_port()}


@pytest.fixture
def receiver():
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
def nodes(lab, ports, receiver, tmp_path):
    made = [Node(name, tmp_path / name, port, free_port(), otlp=receiver.url) for name, port in ports.items()]
    try:
        for node in made:
            node.start(lab, tmp_path / "mitmconf")
        yield made
    finally:
        for node in made:
            node.stop()


def _pulls(lab, a: Node, b: Node) -> None:
    assert a.pull(f"{lab.host('hub')}/library/tiny") == 0
    assert a.pull(f"{lab.host('quota')}/library/three") == 0
    assert b.pull(f"{lab.host('hub')}/library/multi") == 0
    assert b.pull(f"{lab.host('ratelimit')}/library/tiny") != 0  # 429: Docker Hub's quota, spent


def test_prometheus_scrapes_every_nodes_series_and_the_report_merges_their_files(lab, nodes, receiver, tmp_path):
    a, b = nodes
    with Prometheus(tmp_path / "prometheus", {n.name: f"127.0.0.1:{n.metrics_port}" for n in nodes}) as prom:
        _pulls(lab, a, b)
        assert prom.wait_for("sum(pulltrace_pulls_total)", 4) == 4
        by = {(r["metric"]["node"], r["metric"]["registry"], r["metric"]["result"]): float(r["value"][1])
              for r in prom.query("pulltrace_pulls_total")}
        assert by == {
            ("fleet-a", lab.host("hub"), "ok"): 1, ("fleet-a", lab.host("quota"), "ok"): 1,
            ("fleet-b", lab.host("hub"), "ok"): 1, ("fleet-b", lab.host("ratelimit"), "failed"): 1,
        }
        assert prom.value(f'pulltrace_ratelimit_remaining{{node="fleet-a",host="{lab.host("quota")}"}}') == 76
        assert prom.value(f'pulltrace_ratelimit_limit{{node="fleet-a",host="{lab.host("quota")}"}}') == 100
        assert prom.value(f'pulltrace_ratelimit_window_seconds{{host="{lab.host("quota")}"}}') == 21600
        assert prom.value('pulltrace_responses_total{node="fleet-b",status_class="429"}') == 1
        assert prom.value('sum(pulltrace_pull_duration_seconds_count)') == 4
        # Every blob byte of tiny and three came from the CDN behind hub's and quota's 307s.
        images = [lab.images["library/tiny"], lab.images["library/three"]]
        blob_bytes = sum(i.config_size + sum(layer.size for layer in i.layers) for i in images)
        assert prom.value(f'sum(pulltrace_bytes_total{{node="fleet-a",host="{lab.host("cdn")}",'
                          'kind="cdn-download"})') == blob_bytes
        assert prom.value(f'pulltrace_token_lifetime_seconds_count{{node="fleet-a",service="{lab.host("auth")}"}}') \
            == 2
        # What Prometheus scraped passes its own linter.
        for node in nodes:
            text = httpx.get(node.metrics_url).text
            check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            assert (check.returncode, check.stdout + check.stderr) == (0, "")
    for node in nodes:
        node.stop()

    # One well-formed trace per pull, each naming its node.
    sessions = {n.name: list(jsonl.read_sessions(n.jsonl)) for n in nodes}
    assert [len(s) for s in sessions.values()] == [2, 2]
    traces = receiver.received.traces()
    assert len(traces) == 4
    steps = {(n, s.summary.image): len(s.steps) for n, ss in sessions.items() for s in ss}
    seen = {}
    for spans in traces.values():
        (root,) = [s for s in spans if not s.parent_id]
        assert all(s.parent_id == root.span_id for s in spans if s is not root)
        assert all(root.start_ns <= s.start_ns <= s.end_ns <= root.end_ns for s in spans)
        seen[(root.resource["pulltrace.node"], root.attributes["pulltrace.image"])] = len(spans) - 1
        for span in spans:
            for value in [*span.attributes.values(), *(v for _, e in span.events for v in e.values())]:
                assert not (isinstance(value, str) and len(value) > 40 and value.startswith("eyJ")), value
            assert "authorization" not in " ".join(span.attributes).lower()
    assert seen == steps
    failed = next(s for spans in traces.values() for s in spans
                  if not s.parent_id and s.attributes["pulltrace.result"] == "failed")
    assert failed.resource["pulltrace.node"] == "fleet-b"
    assert [name for name, _ in failed.events] == ["ratelimit.exceeded"]
    assert failed.events[0][1]["pulltrace.finding.severity"] == "error"

    # The fleet report merges both nodes' files.
    out = tmp_path / "fleet.txt"
    assert main(["report", str(a.jsonl), str(b.jsonl), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("Fleet\n=====\n4 pulls on 2 nodes (fleet-a, fleet-b), 4 images, 1 failed; ")
    ratelimit = lab.host("ratelimit")
    digest = lab.images["library/tiny"].digest
    assert (f"\nfleet-b s4: {ratelimit}/library/tiny:latest from {ratelimit}: "
            f"GET /v2/library/tiny/manifests/{digest} → 429\n  error: ") in text
    assert [line.split()[:4] for line in text.splitlines() if line.startswith(("fleet-a ", "fleet-b "))][:2] == [
        ["fleet-a", "2", "0", "2"], ["fleet-b", "2", "1", "2"]]


def test_an_otlp_endpoint_that_is_down_costs_one_warning_and_nothing_else(lab, ports, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    node = Node("fleet-a", tmp_path / "fleet-a", ports["fleet-a"], free_port(), otlp=f"http://127.0.0.1:{dead}")
    try:
        node.start(lab, tmp_path / "mitmconf")
        assert node.pull(f"{lab.host('hub')}/library/tiny") == 0
        assert node.pull(f"{lab.host('hub')}/library/tiny-plus") == 0
    finally:
        node.stop()
    console = node.mitm.console()
    assert console.count("pulltrace: cannot send traces to") == 1, console[-3000:]
    assert "Traceback" not in console
    # The capture went on: both pulls closed, printed and written.
    assert [s.summary.image.split("/", 1)[1] for s in jsonl.read_sessions(node.jsonl)] == [
        "library/tiny:latest", "library/tiny-plus:latest"]


def test_a_metrics_port_in_use_is_one_line_at_start(lab, tmp_path):
    from devtools.fleet_demo import ADDON
    from devtools.mitmdump import mitmdump_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = mitmdump_command(port=free_port(), confdir=tmp_path / "conf", upstream_ca=lab.ca_path, addon=ADDON,
                                out=tmp_path / "out", options=(f"pulltrace_metrics=127.0.0.1:{port}",))
        run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    output = run.stdout + run.stderr
    # pulltrace says one line (no traceback), and mitmdump stops on it.
    assert [line for line in output.splitlines() if "pulltrace_metrics" in line] == [
        line for line in output.splitlines() if line.endswith(
            f"pulltrace_metrics: cannot serve metrics on 127.0.0.1:{port}: the address is in use "
            "(another exporter, or a second pulltrace?)")]
    assert len([line for line in output.splitlines() if "pulltrace_metrics" in line]) == 1
    assert "Traceback" not in output
    assert output.rstrip().endswith("Error logged during startup, exiting...")
