"""containerd's debug log (`ctr --debug`): each `do request` paired with its response."""

from logsdata import DATA

from pulltrace.capture.logs import read_log
from pulltrace.pipeline import build_trace


def test_recorded_ctr_pull_pairs_requests_and_responses_in_order():
    log = read_log(DATA / "ctr-debug-three.log")
    exchanges = list(log.exchanges)
    assert log.format.name == "containerd" and log.not_understood == 0
    assert [(e.method, e.status) for e in exchanges] == [
        ("HEAD", 401), ("HEAD", 200), ("GET", 401), ("GET", 200), ("GET", 200), ("GET", 200), ("GET", 200)]
    challenge = exchanges[0]
    assert challenge.response_header("www-authenticate") == (
        'Bearer realm="https://auth.pulltrace.test/token",service="hub.pulltrace.test",'
        'scope="repository:library/three:pull"')
    assert challenge.request_header("user-agent") == "containerd/1.6.20~ds1"
    assert challenge.request_header("authorization") is None  # containerd never logs it
    # The blob GET followed the registry's 307 inside Go's client: the response is storage's.
    blob = exchanges[3]
    assert blob.url.startswith("https://hub.pulltrace.test/v2/library/three/blobs/sha256:f67cc781")
    assert blob.response_header("accept-ranges") == "bytes" and blob.response_bytes == 733


def test_ctr_pull_is_one_session_with_its_challenge_read_from_the_log():
    trace = build_trace(read_log(DATA / "ctr-debug-three.log").exchanges, "ctr")
    (s,) = trace.sessions
    assert s.summary.image == "hub.pulltrace.test/library/three:latest"
    assert [st.kind.value for st in s.steps] == ["manifest-head", "manifest-head"] + ["layer-blob"] * 5
    assert s.steps[0].facts.challenge["realm"] == "https://auth.pulltrace.test/token"
    assert s.findings == []
