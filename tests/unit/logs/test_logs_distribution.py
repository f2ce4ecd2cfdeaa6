"""distribution's log: app lines, their combined duplicates, auth refusals joined with their status."""

import json
from datetime import UTC
from pathlib import Path

from logsdata import DATA

from pulltrace.capture.logs import read_log
from pulltrace.capture.logs.distribution import DistributionParser

REFUSED = ('time="2026-12-01T20:09:24.922628866Z" level=warning msg="error authorizing context: authorization token '
           'required" go.version=go1.19.8 http.request.host=hub.pulltrace.test http.request.id=96d1 '
           'http.request.method=GET http.request.remoteaddr=127.0.0.1 http.request.uri=/v2/ '
           'http.request.useragent="docker/20.10.24+dfsg1 UpstreamClient(Docker-Client/20.10.24+dfsg1 '
           '\\\\(linux\\\\))"')
COMBINED_401 = ('127.0.0.1 - - [01/Dec/2026:20:09:24 +0000] "GET /v2/ HTTP/1.1" 401 87 "" '
                '"docker/20.10.24+dfsg1 UpstreamClient(Docker-Client/20.10.24+dfsg1 \\\\(linux\\\\))"')


def test_a_refusal_takes_its_status_from_the_combined_line_and_its_time_from_the_app_line():
    p = DistributionParser(Path("registry.log"))
    assert p.feed(REFUSED, 1) == []
    (ex,) = p.feed(COMBINED_401, 2)
    assert ex.id == "registry.log:1"
    assert (ex.method, ex.url, ex.status, ex.response_bytes) == ("GET", "https://hub.pulltrace.test/v2/", 401, 87)
    assert ex.started_at == 1796155764.9226289
    assert ex.request_header("user-agent").endswith("(Docker-Client/20.10.24+dfsg1 \\(linux\\))")
    assert ex.request_header("authorization") is None  # "token required": none was sent
    assert p.finish() == []


def test_insufficient_scope_means_a_token_was_sent():
    p = DistributionParser(Path("registry.log"))
    line = REFUSED.replace("authorization token required", "insufficient scope")
    p.feed(line, 1)
    (ex,) = p.finish()  # no combined line (access log disabled): the refusal is still a 401
    assert ex.status == 401 and ex.request_header("authorization") == "Bearer …"


def test_recorded_docker_pull_one_exchange_per_request():
    log = read_log(DATA / "registry-hub-docker-three.log")
    exchanges = list(log.exchanges)
    assert log.format.name == "distribution" and log.not_understood == 0
    base = "https://hub.pulltrace.test/v2/"
    assert [(e.method, e.url.removeprefix(base)[:30], e.status) for e in exchanges] == [
        ("GET", "", 401),
        ("HEAD", "library/three/manifests/latest", 200),
        ("GET", "library/three/manifests/sha256", 200),
        ("GET", "library/three/blobs/sha256:277", 307),
        ("GET", "library/three/blobs/sha256:c3d", 307),
        ("GET", "library/three/blobs/sha256:fc4", 307),
        ("GET", "library/three/blobs/sha256:f67", 307),
    ]
    head = exchanges[1]
    assert head.response_header("content-type") == "application/vnd.docker.distribution.manifest.v2+json"
    assert head.response_bytes == 743 and head.duration_ms == 8.054193  # http.response.duration=8.054193ms
    # The registry refused the ping with a token challenge, then authorised the rest: Bearer.
    assert [e.request_header("authorization") for e in exchanges] == [None] + ["Bearer …"] * 6
    assert log.notes()[-1].startswith("registry-hub-docker-three.log: the registry refused requests without a token")


def test_json_formatter_lines_read_like_text_ones():
    text = DATA / "registry-hub-docker-three.log"
    from pulltrace.capture.logs import logrus
    out = []
    for line in text.read_text().splitlines():
        entry = logrus.parse_text(line)
        if entry is None:
            out.append(line)
            continue
        from datetime import datetime
        stamp = datetime.fromtimestamp(entry.time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
        out.append(json.dumps({"level": entry.level, "msg": entry.msg, "time": stamp, **entry.fields}))
    as_json = text.parent / "x.json.log"
    try:
        as_json.write_text("\n".join(out) + "\n")
        log = read_log(as_json)
        got = [(e.method, e.url, e.status, e.response_bytes) for e in log.exchanges]
    finally:
        as_json.unlink()
    assert log.format.name == "distribution-json"
    assert got == [(e.method, e.url, e.status, e.response_bytes) for e in read_log(text).exchanges]
