# The dump lines below are as long as logger.go prints them (a URL and its redaction note on one line).
# ruff: noqa: E501
"""crane -v dumps, written here from go-containerregistry's logger.go (crane is not installable here)."""

from pulltrace.capture.logs import read_log
from pulltrace.pipeline import build_trace

DUMP = """\
2024/05/01 12:00:00 --> GET https://registry.example/v2/
2024/05/01 12:00:00 GET /v2/ HTTP/1.1\r
Host: registry.example\r
User-Agent: crane/v0.19.0 go-containerregistry/v0.19.0\r
Authorization: <redacted>\r
Accept-Encoding: gzip\r
\r

2024/05/01 12:00:00 <-- 401 https://registry.example/v2/ (12.5ms)
2024/05/01 12:00:00 HTTP/1.1 401 Unauthorized\r
Content-Length: 87\r
Content-Type: application/json\r
Www-Authenticate: Bearer realm="https://auth.example/token",service="registry.example"\r
\r
{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}
2024/05/01 12:00:00 --> GET https://auth.example/token?scope=repository%3Alib%2Fapp%3Apull&service=registry.example [body redacted: basic token response contains credentials]
2024/05/01 12:00:00 GET /token?scope=repository%3Alib%2Fapp%3Apull&service=registry.example HTTP/1.1\r
Host: auth.example\r
User-Agent: crane/v0.19.0 go-containerregistry/v0.19.0\r
Authorization: <redacted>\r
\r

2024/05/01 12:00:00 <-- 200 https://auth.example/token?scope=repository%3Alib%2Fapp%3Apull&service=registry.example (30ms) [body redacted: basic token response contains credentials]
2024/05/01 12:00:00 HTTP/1.1 200 OK\r
Content-Type: application/json\r
\r

2024/05/01 12:00:01 --> GET https://registry.example/v2/lib/app/manifests/latest
2024/05/01 12:00:01 GET /v2/lib/app/manifests/latest HTTP/1.1\r
Host: registry.example\r
User-Agent: crane/v0.19.0 go-containerregistry/v0.19.0\r
Accept: application/vnd.oci.image.manifest.v1+json\r
\r

2024/05/01 12:00:01 <-- Get "https://registry.example/v2/lib/app/manifests/latest": dial tcp: connection refused GET https://registry.example/v2/lib/app/manifests/latest (1.5s)
"""


def test_crane_dump_gives_headers_bodies_and_failures(tmp_path):
    path = tmp_path / "crane.log"
    path.write_text(DUMP)
    log = read_log(path)
    ping, token, manifest = log.exchanges
    assert log.format.name == "crane" and log.not_understood == 0
    assert (ping.status, ping.reason, ping.duration_ms, ping.response_bytes) == (401, "Unauthorized", 12.5, 87)
    assert ping.request_header("user-agent") == "crane/v0.19.0 go-containerregistry/v0.19.0"
    assert ping.request_header("authorization") is None  # "<redacted>" on every dump: unknown
    assert ping.response_header("www-authenticate").startswith('Bearer realm="https://auth.example/token"')
    assert ping.response_json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert token.status == 200 and token.response_body_preview is None  # redacted by crane
    assert manifest.status is None and "connection refused" in manifest.error
    assert manifest.duration_ms == 1500.0 and manifest.id == "crane.log:28"


def test_crane_dump_makes_a_pull_with_its_challenge_and_token(tmp_path):
    path = tmp_path / "crane.log"
    path.write_text(DUMP)
    trace = build_trace(read_log(path).exchanges, "crane")
    (s,) = [s for s in trace.sessions if s.action == "pull"]
    assert [st.kind.value for st in s.steps] == ["ping", "token", "manifest"]  # trace v2: a failed request keeps its kind
    assert s.steps[1].linked("answers") == [s.steps[0].id]
