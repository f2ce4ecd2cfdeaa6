"""The log formats pulltrace reads, each with what its vantage point cannot show."""

from __future__ import annotations

from pathlib import Path

from pulltrace.capture.logs import access, containerd, crane, distribution, tokenlog
from pulltrace.capture.logs.base import LineParser, LogFormat

_NO_BODIES = "bodies (manifests, token responses, error details)"
_ACCESS_CANNOT_SEE = (
    "response headers (the WWW-Authenticate challenge, a redirect's Location, Docker-Content-Digest)",
    _NO_BODIES,
    "whether a request carried credentials",
    "requests to other hosts (a token service or CDN elsewhere writes its own log)",
)
# What distribution's own log, in either formatter, cannot show.
_REGISTRY_CANNOT_SEE = (
    "token requests (a separate token service issues tokens)",
    "CDN or storage downloads a redirect sends the client to",
    "response headers other than Content-Type (the challenge, a redirect's Location, the digest)",
    _NO_BODIES,
    "the scheme (shown as https)",
)


def _access(layout: str):
    def make(path: Path) -> LineParser:
        return access.AccessLogParser(path, layout)
    return make


FORMATS: dict[str, LogFormat] = {
    f.name: f
    for f in (
        LogFormat(
            name="combined",
            label="an nginx/Apache access log (combined or common)",
            vantage="a web server or proxy in front of the registry",
            sniff=access.sniff_combined,
            parser=_access("combined"),
            cannot_see=(*_ACCESS_CANNOT_SEE, "the host and scheme the client used (shown as https://<file>.invalid)"),
            sample='10.0.0.7 - - [22/Dec/2017:11:56:44 +0800] "GET /v2/ HTTP/1.1" 401 87 "-" "docker/17.09.0-ce" '
                   "0.003 0.003",
            coarse_time=True,
        ),
        LogFormat(
            name="syslog-combined",
            label="an access log written through syslog (Harbor's proxy, timed_combined)",
            vantage="a proxy in front of the registry (Harbor's nginx)",
            sniff=access.sniff_syslog,
            parser=_access("syslog"),
            cannot_see=(*_ACCESS_CANNOT_SEE, "the host and scheme the client used (shown as https://<file>.invalid)",
                        "the year (syslog omits it)"),
            sample='Dec 22 11:56:44 172.20.0.1 proxy[7494]: 10.10.14.39 - "GET /v2/ HTTP/1.1" 401 87 "-" '
                   '"docker/17.09.0-ce" 0.003 0.003 .',
            coarse_time=True,
        ),
        LogFormat(
            name="pulltrace-lab",
            label="the pulltrace lab's nginx access log (log_format lab)",
            vantage="the lab's nginx in front of every lab host",
            sniff=access.sniff_lab,
            parser=_access("lab"),
            cannot_see=(
                "response headers (the WWW-Authenticate challenge, a redirect's Location, Docker-Content-Digest)",
                _NO_BODIES,
                "which credential a request carried (only that one was present)",
                "the scheme (shown as https)",
            ),
            sample='2026-12-01T20:09:24+00:00 127.0.0.1 hub.pulltrace.test "GET /v2/ HTTP/1.1" 401 87 auth=absent '
                   'ua="docker/20.10.24+dfsg1" rt=0.002',
            coarse_time=True,
        ),
        LogFormat(
            name="distribution",
            label="a CNCF distribution registry log (logrus text, with its combined access lines)",
            vantage="the registry",
            sniff=distribution.sniff_text,
            parser=distribution.DistributionParser,
            cannot_see=_REGISTRY_CANNOT_SEE,
            sample='time="2026-12-01T20:09:24.98Z" level=info msg="response completed" '
                   "http.request.host=hub.pulltrace.test http.request.method=HEAD "
                   "http.request.uri=/v2/library/tiny/manifests/latest http.response.status=200 "
                   "http.response.written=424 http.response.duration=2.4ms",
        ),
        LogFormat(
            name="distribution-json",
            label="a CNCF distribution registry log (logrus JSON, log.formatter: json or logstash)",
            vantage="the registry",
            sniff=distribution.sniff_json,
            parser=distribution.DistributionParser,
            cannot_see=_REGISTRY_CANNOT_SEE,
            sample='{"http.request.method":"GET","http.request.uri":"/v2/","http.response.status":200,'
                   '"level":"info","msg":"response completed","time":"2026-12-01T20:09:24.98Z"}',
        ),
        LogFormat(
            name="pulltrace-token",
            label="the pulltrace lab token service's request log",
            vantage="the token service",
            sniff=tokenlog.sniff,
            parser=tokenlog.TokenLogParser,
            cannot_see=(
                "the registry's requests and its challenges",
                "the token itself (only the access it grants)",
                "the request's query order and password (the form is rebuilt from the logged fields)",
                "the scheme (shown as https)",
            ),
            sample='{"client": "127.0.0.1", "granted": [{"actions": ["pull"], "name": "library/tiny", '
                   '"type": "repository"}], "host": "auth.pulltrace.test", "kind": "get", "method": "GET", '
                   '"path": "/token", "scope": ["repository:library/tiny:pull"], "service": "hub.pulltrace.test", '
                   '"status": 200, "time": "2026-12-01T20:09:24Z", "user": "(anonymous)", '
                   '"user_agent": "docker/20.10"}',
            coarse_time=True,
            early=True,
        ),
        LogFormat(
            name="containerd",
            label="a containerd debug log (ctr --debug, containerd --log-level debug; text or JSON)",
            vantage="the client (containerd's resolver and fetcher)",
            sniff=containerd.sniff_containerd,
            parser=containerd.ContainerdParser,
            cannot_see=(
                "token requests (fetched by another client, not logged)",
                "redirect hops (Go's client follows them inside one request: a blob redirect and its CDN "
                "download are one step, under the registry's URL)",
                "the Authorization header (containerd leaves it out)",
                _NO_BODIES,
            ),
            sample='time="2026-12-01T20:30:01.5Z" level=debug msg="do request" request.header.accept="*/*" '
                   'request.method=HEAD url="https://hub.pulltrace.test/v2/library/tiny/manifests/latest"',
        ),
        LogFormat(
            name="crane",
            label="a crane -v / gcrane -v HTTP dump (read from go-containerregistry's documented format; "
                  "crane is not installable here, so no recorded dump was tested)",
            vantage="the client (go-containerregistry's transport)",
            sniff=crane.sniff,
            parser=crane.CraneParser,
            cannot_see=(
                "whether a credential was sent (every dump shows Authorization: <redacted>)",
                "token and blob bodies (redacted by crane)",
                "sub-second start times (Go's log prefix is to the second; durations are exact)",
            ),
            sample="2024/05/01 12:00:00 --> GET https://registry.example/v2/",
        ),
        LogFormat(
            name="dockerd",
            label="a dockerd -D log",
            vantage="the docker daemon",
            sniff=containerd.sniff_dockerd,
            parser=containerd.ContainerdParser,
            cannot_see=(
                "the HTTP requests of its own pulls (dockerd logs pull steps, not requests: only the requests "
                "of the containerd it runs are read)",
                _NO_BODIES,
            ),
            sample='time="2026-12-01T20:30:01.5Z" level=debug msg="Trying to pull tiny from https://mirror.example v2"',
        ),
    )
}
