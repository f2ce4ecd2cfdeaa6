"""Access-log lines -> exchanges: nginx/Apache combined and common, Harbor's syslog form, the lab's."""

from pathlib import Path

import pytest

from pulltrace.capture.logs.access import AccessLogParser

LAB = ('2026-12-01T20:33:02+00:00 127.0.0.1 hub.pulltrace.test "GET /v2/library/three/manifests/sha256:79153eaf'
       '89f617eb25a2290976c9cf4553e1eb43e3386c432b5af11e17b706dc HTTP/1.1" 200 743 auth=present ua="docker/20.10.24'
       '+dfsg1 UpstreamClient(Docker-Client/20.10.24+dfsg1 \\x5C(linux\\x5C))" rt=0.003')
COMBINED = ('10.0.0.7 - alice [22/Dec/2017:11:56:44 +0800] "GET /v2/ccloud/app/manifests/v1 HTTP/1.1" 200 1374 '
            '"-" "docker/17.09.0-ce" 0.025 0.024')
APACHE_COMMON = '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /v2/ HTTP/1.0" 401 -'
HARBOR = ('Dec 22 11:56:44 172.20.0.1 proxy[7494]: 10.10.14.39 - "GET /v2/ HTTP/1.1" 401 87 "-" '
          '"docker/17.09.0-ce go/go1.8.3 UpstreamClient(Docker-Client/17.09.0-ce \\x5C(linux\\x5C))" 0.003 0.003 .')


def one(layout: str, line: str, name: str = "access.log"):
    (ex,) = AccessLogParser(Path(name), layout).feed(line, 7)
    return ex


def test_lab_line_keeps_host_agent_time_and_that_credentials_were_sent():
    ex = one("lab", LAB)
    assert ex.id == "access.log:7"
    assert (ex.method, ex.status, ex.response_bytes, ex.duration_ms) == ("GET", 200, 743, 3.0)
    assert ex.url.startswith("https://hub.pulltrace.test/v2/library/three/manifests/sha256:79153eaf")
    # nginx writes a backslash as \x5C; the header is what docker sent.
    assert ex.request_header("user-agent").endswith("UpstreamClient(Docker-Client/20.10.24+dfsg1 \\(linux\\))")
    # auth=present: an Authorization header was sent; its value was never logged.
    assert ex.request_header("authorization") == "…"
    assert ex.response_headers == [] and ex.response_body_preview is None
    assert ex.started_at == pytest.approx(1796157182.5, abs=0.01)


def test_combined_with_request_and_upstream_times():
    ex = one("combined", COMBINED, "registry proxy.log")
    assert ex.url == "https://registry-proxy.invalid/v2/ccloud/app/manifests/v1"
    assert ex.client == "10.0.0.7" and ex.duration_ms == 25.0
    assert ex.request_header("user-agent") == "docker/17.09.0-ce"
    assert ex.request_header("referer") is None  # "-"
    assert int(ex.started_at) == 1513915004  # 11:56:44 +0800 is 03:56:44 UTC


def test_apache_common_has_no_agent_and_dash_bytes():
    ex = one("combined", APACHE_COMMON)
    assert (ex.method, ex.status, ex.response_bytes, ex.http_version) == ("GET", 401, 0, "HTTP/1.0")
    assert ex.request_headers == [] and ex.duration_ms is None


def test_harbor_syslog_line_takes_its_year_from_the_file(tmp_path):
    path = tmp_path / "proxy.log"
    path.write_text(HARBOR + "\n")
    import os
    os.utime(path, (1514764800, 1514764800))  # 2018-01-01: a December line is from 2017
    (ex,) = AccessLogParser(path, "syslog").feed(HARBOR, 1)
    assert int(ex.started_at) == 1513943804  # 2017-12-22 11:56:44 UTC
    assert ex.client == "10.10.14.39" and ex.duration_ms == 3.0


def test_lines_of_one_second_keep_their_order_and_storage_downloads_go_last():
    parser = AccessLogParser(Path("a.log"), "lab")
    base = '2026-12-01T20:33:02+00:00 127.0.0.1 h "GET {} HTTP/1.1" 200 1 rt=0.000'
    paths = ["/v2/x/blobs/sha256:" + "a" * 64, "/docker/registry/v2/blobs/sha256/aa/" + "a" * 64 + "/data", "/v2/"]
    times = [parser.feed(base.format(p), n)[0].started_at for n, p in enumerate(paths)]
    assert times[0] < times[2] < times[1]
    assert int(times[0]) == int(times[1]) == int(times[2])


@pytest.mark.parametrize("line", [
    "",
    "GET /v2/ HTTP/1.1",
    '10.0.0.7 - - [bad time] "GET /v2/ HTTP/1.1" 200 1',
    '10.0.0.7 - - [22/Dec/2017:11:56:44 +0800] "\\x16\\x03\\x01" 400 150',  # TLS sent to a plain port
])
def test_lines_that_are_not_requests_are_not_understood(line):
    assert AccessLogParser(Path("a.log"), "combined").feed(line, 1) is None
