"""No token, credential, refresh token, cookie or URL signature reaches any output by default."""

import base64
import json
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import jwt
import pytest

from pulltrace.commands.main import main
from pulltrace.redact import is_secret_query_name

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds"
FORMATS = ["json", "html", "md", "text", "har"]

REFRESH = "r3fr3sh-" + "x" * 40
PASSWORD = "alice-pass-fixture"
OAUTH_TOKEN = jwt.encode({"sub": "alice", "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}]},
                         "k" * 32, algorithm="HS256")


def oauth_exchanges() -> list[dict]:
    """docker's identity-token flow: POST password grant, then refresh_token grant, then a pull."""
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    common = {"http_version": "HTTP/1.1", "client": "10.0.0.7:1", "reason": "OK",
              "request_headers": [["User-Agent", "docker/20.10"]]}
    return [
        {**common, "id": "o1", "method": "GET", "url": "https://hub.pulltrace.test/v2/", "started_at": 1.0,
         "status": 401, "response_headers": [["WWW-Authenticate",
                                               'Bearer realm="https://auth.pulltrace.test/token",service="hub"']]},
        {**common, "id": "o2", "method": "POST", "url": "https://auth.pulltrace.test/token", "started_at": 2.0,
         "status": 200, "request_headers": [["Content-Type", "application/x-www-form-urlencoded"],
                                             ["Authorization", f"Basic {basic}"]],
         "request_body_preview": f"grant_type=password&username=alice&password={PASSWORD}&service=hub"
                                 f"&client_id=docker&access_type=offline",
         "response_headers": [["Content-Type", "application/json"], ["Set-Cookie", "session=s3cr3tcookievalue; Path=/"]],
         "response_body_preview": json.dumps({"access_token": OAUTH_TOKEN, "refresh_token": REFRESH,
                                              "expires_in": 60})},
        {**common, "id": "o3", "method": "POST", "url": "https://auth.pulltrace.test/token", "started_at": 3.0,
         "status": 200, "request_headers": [["Content-Type", "application/x-www-form-urlencoded"],
                                             ["Cookie", "session=s3cr3tcookievalue"]],
         "request_body_preview": f"grant_type=refresh_token&refresh_token={REFRESH}&service=hub"
                                 "&scope=repository%3Ateam%2Fapp%3Apull&client_id=docker",
         "response_headers": [["Content-Type", "application/json"]],
         "response_body_preview": json.dumps({"access_token": OAUTH_TOKEN, "expires_in": 60})},
        {**common, "id": "o4", "method": "GET", "url": "https://hub.pulltrace.test/v2/team/app/manifests/1",
         "started_at": 4.0, "status": 404, "request_headers": [["Authorization", f"Bearer {OAUTH_TOKEN}"]],
         "response_body_preview": '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'},
    ]


def secrets_in(path: Path) -> set[str]:
    """Every secret value a raw recording holds: what must never be printed."""
    found: set[str] = set()
    for ex in json.loads(path.read_text()):
        for name, value in ex.get("request_headers", []) + ex.get("response_headers", []):
            lname = name.lower()
            if lname == "authorization":
                credential = value.split(" ", 1)[1]
                found.add(credential)
                if value.startswith("Basic "):
                    found.add(base64.b64decode(credential).decode().split(":", 1)[1])
            elif lname in ("cookie", "set-cookie"):
                found.add(value.split(";")[0].split("=", 1)[1])
            elif lname == "location":
                found |= _signed(value)
        found |= _signed(ex["url"])
        for body in (ex.get("response_body_preview"), ex.get("request_body_preview")):
            if body and body.startswith("{"):
                data = json.loads(body)
                found |= {data[k] for k in ("token", "access_token", "refresh_token") if data.get(k)}
            elif body:
                found |= {v for k, v in parse_qsl(body) if k in ("password", "refresh_token")}
    return {s for s in found if len(s) >= 8}


def _signed(url: str) -> set[str]:
    return {v for k, v in parse_qsl(urlsplit(url).query) if is_secret_query_name(k)}


def _inputs(tmp_path: Path) -> list[Path]:
    oauth = tmp_path / "oauth.json"
    oauth.write_text(json.dumps(oauth_exchanges()))
    return sorted(SEEDS.glob("*.json")) + [oauth]


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_in_any_output_by_default(tmp_path, fmt, capsys):
    for source in _inputs(tmp_path):
        secrets = secrets_in(source)
        assert secrets, f"{source.name} should hold fake secrets to look for"
        out = tmp_path / f"{source.stem}.{fmt}"
        assert main(["report", str(source), "--format", fmt, "-o", str(out)]) == 0
        text = out.read_text()
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"{source.name} -> {fmt} leaked {leaked}"
        # Nor their URL-encoded forms.
        assert not [s for s in secrets if quote(s, safe="") in text]


def test_show_secrets_keeps_them_except_in_har(tmp_path):
    source = SEEDS / "001-dockerhub-alpine.json"
    out = tmp_path / "t.json"
    assert main(["report", str(source), "--format", "json", "--show-secrets", "-o", str(out)]) == 0
    token = json.loads(json.loads(source.read_text())[1]["response_body_preview"])["token"]
    assert token in out.read_text()
    har = tmp_path / "t.har"
    assert main(["report", str(source), "--show-secrets", "-o", str(har)]) == 0
    text = har.read_text()
    assert token not in text
    assert '"Authorization"' not in text and "verify=1597907265" not in text


def test_token_claims_survive_masking(tmp_path):
    oauth = tmp_path / "oauth.json"
    oauth.write_text(json.dumps(oauth_exchanges()))
    out = tmp_path / "t.json"
    assert main(["report", str(oauth), "--format", "json", "-o", str(out)]) == 0
    trace = json.loads(out.read_text())
    (session,) = [s for s in trace["sessions"] if s["action"] == "pull"]
    assert session["summary"]["scopes_granted"] == ["repository:team/app:pull"]
    assert session["summary"]["auth"] == "bearer-credentials"
