"""Prometheus metrics of finished pulls: exact series from recorded pulls, the endpoint, its errors."""

import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from pulltrace.model import Exchange, Session, Step, StepKind, load_trace
from pulltrace.sinks.exporters import Exporters
from pulltrace.sinks.metrics import MetricsError, PullMetrics, parse_listen

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "lab"


def _observed(*names: str) -> PullMetrics:
    metrics = PullMetrics(node="fleet-a", version="9.9")
    for name in names:
        for session in load_trace(SAMPLES / f"{name}.json").sessions:
            metrics.observe(session)
    return metrics


def _value(metrics: PullMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_pulls_by_registry_and_result():
    m = _observed("docker-hub-multi", "doctor-alice-denied", "docker-tiny-plus-after-tiny", "docker-basic-login-pull")
    assert _value(m, "pulltrace_pulls_total", registry="hub.pulltrace.test", result="ok") == 3
    assert _value(m, "pulltrace_pulls_total", registry="hub.pulltrace.test", result="failed") == 1
    # The login session of docker-basic-login-pull is not a pull; its pull is.
    assert _value(m, "pulltrace_pulls_total", registry="basic.pulltrace.test", result="ok") == 1
    assert _value(m, "pulltrace_pull_duration_seconds_count", registry="hub.pulltrace.test") == 4
    assert _value(m, "pulltrace_info", node="fleet-a", version="9.9") == 1


def test_bytes_by_serving_host_and_kind_and_responses_by_class():
    session = load_trace(SAMPLES / "docker-hub-multi.json").sessions[0]
    m = PullMetrics()
    m.observe(session)
    cdn = sum(s.exchange.response_bytes or 0 for s in session.steps if s.kind is StepKind.CDN_DOWNLOAD)
    assert cdn == 1141
    assert _value(m, "pulltrace_bytes_total", host="cdn.pulltrace.test", kind="cdn-download") == 1141
    assert _value(m, "pulltrace_responses_total", host="hub.pulltrace.test", status_class="401") == 1
    assert _value(m, "pulltrace_responses_total", host="hub.pulltrace.test", status_class="3xx") == 2
    assert _value(m, "pulltrace_responses_total", host="cdn.pulltrace.test", status_class="2xx") == 2
    assert _value(m, "pulltrace_token_lifetime_seconds_count", service="auth.pulltrace.test") == 1
    assert _value(m, "pulltrace_token_lifetime_seconds_sum", service="auth.pulltrace.test") == 300


def test_rate_limit_remaining_from_docker_hubs_headers():
    ex = Exchange(id="m", method="GET", url="https://quota.pulltrace.test/v2/library/tiny/manifests/latest",
                  started_at=1.0, status=200, response_headers=[("RateLimit-Limit", "100;w=21600"),
                                                                ("RateLimit-Remaining", "76;w=21600")])
    m = PullMetrics()
    m.observe(Session(id="s1", steps=[Step(ex, kind=StepKind.MANIFEST)]))
    assert _value(m, "pulltrace_ratelimit_remaining", host="quota.pulltrace.test") == 76
    assert _value(m, "pulltrace_ratelimit_limit", host="quota.pulltrace.test") == 100
    assert _value(m, "pulltrace_ratelimit_window_seconds", host="quota.pulltrace.test") == 21600


def test_label_values_are_masked():
    ex = Exchange(id="x", method="GET", url="https://hub.pulltrace.test/v2/", started_at=1.0, status=200)
    session = Session(id="s1", steps=[Step(ex, kind=StepKind.PING)])
    session.summary.registry = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz"
    m = PullMetrics()
    m.observe(session)
    samples = [s for metric in m.registry.collect() for s in metric.samples]
    assert not any("eyJzdWIiOiJhbGljZSJ9" in v for s in samples for v in s.labels.values())


@pytest.mark.parametrize(("text", "parsed"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), (":9464", ("0.0.0.0", 9464)), ("[::1]:9464", ("::1", 9464)),
])
def test_parse_listen(text, parsed):
    assert parse_listen(text) == parsed


@pytest.mark.parametrize("text", ["9464", "host:", "host:port", "h:70000"])
def test_parse_listen_refuses(text):
    with pytest.raises(ValueError):
        parse_listen(text)


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsError) as e:
            PullMetrics().serve("127.0.0.1", port)
    assert str(e.value) == (f"cannot serve metrics on 127.0.0.1:{port}: the address is in use "
                            "(another exporter, or a second pulltrace?)")


def test_the_endpoint_serves_what_promtool_accepts(tmp_path):
    exporters = Exporters(version="9.9")
    served = exporters.set_metrics("127.0.0.1:0", node="fleet-a")
    try:
        assert served is not None and served.startswith("127.0.0.1:")
        # Configured again with the same value (mitmproxy does at start): the same server.
        assert exporters.set_metrics("127.0.0.1:0", node="fleet-a") == served
        for session in load_trace(SAMPLES / "docker-gcr-three.json").sessions:
            exporters(session, 1)
        text = httpx.get(f"http://{served}/metrics").text
    finally:
        exporters.close()
    assert 'pulltrace_pulls_total{registry="gcr.pulltrace.test",result="ok"} 1.0' in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus) is not installed")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert (check.returncode, check.stdout + check.stderr) == (0, "")
