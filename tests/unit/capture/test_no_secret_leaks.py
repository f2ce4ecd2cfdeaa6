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
         "response_headers": [["Content-Type", "application/json"],
                              ["Set-Cookie", "session=s3cr3tcookievalue; Path=/"]],
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


# --- secrets outside the known names (issue 11): masked by shape, in every format ---------

SHAPE_TOKEN = jwt.encode({"sub": "bob", "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}]},
                         "s" * 32, algorithm="HS256")
SHAPE_SECRETS = {
    "docker-token": "signature=9f8e7d6c5b4a39281706,repository=team/app,access=read",
    "auth-token": "gAAAAABkX9t0k3nV4lu3QwErTy",
    "jfrog": "AKCp8jQ8v7wErTyUiOpAsDfGhJkL",
    "gitlab": "glpat-Xy7QwErTyUiOpAsDfGh1",
    "api-key": "k3yV4lu3-QwErTyUiOpAsDf9",
    "link-sig": "L1nkS1gn4tur3QwErTyUiOp",
    "access-token": "acc3ssT0k3nQwErTyUiOpAs",
    "refresh-token": "r3fr3shT0k3nQwErTyUiOpA",
    "ecr": "QVdTOmVjclBhc3N3b3JkUXdFclR5",
    "escaped": "3sc4p3dT0k3nQwErTyUiOpA",
    "form-secret": "cl13ntS3cr3tQwErTyUiOpA",
}


def shape_exchanges() -> list[dict]:
    """A pull whose secrets sit behind names pulltrace never listed, or in no name at all."""
    s = SHAPE_SECRETS
    common = {"http_version": "HTTP/1.1", "client": "10.0.0.9:1", "reason": "OK", "request_headers": []}
    cdn = f"https://cdn.pulltrace.test/t/{SHAPE_TOKEN}/blobs/data"
    digest = "sha256:" + "c" * 64
    return [
        {**common, "id": "k1", "method": "POST", "url": "https://auth.pulltrace.test/token", "started_at": 1.0,
         "status": 200, "request_headers": [["Content-Type", "application/x-www-form-urlencoded"],
                                             ["X-JFrog-Art-Api", s["jfrog"]], ["Private-Token", s["gitlab"]]],
         "request_body_preview": f"grant_type=client_credentials&client_id=ci&client_secret={s['form-secret']}"
                                 "&service=hub.pulltrace.test&scope=repository%3Ateam%2Fapp%3Apull",
         "response_headers": [["Content-Type", "application/json"], ["X-Docker-Token", s["docker-token"]]],
         "response_body_preview": f'{{"accessToken":"{s["access-token"]}","refreshToken":"{s["refresh-token"]}",'
                                  f'"\\u0074oken":"{s["escaped"]}",'
                                  f'"authorizationData":[{{"authorizationToken":"{s["ecr"]}"}}],"expires_in":60}}'},
        {**common, "id": "k2", "method": "GET", "url": "https://hub.pulltrace.test/v2/team/app/blobs/" + digest,
         "started_at": 2.0, "status": 307,
         "request_headers": [["X-Auth-Token", s["auth-token"]], ["X-Api-Key", s["api-key"]]],
         "response_headers": [["Location", cdn],
                              ["Link", f'<https://cdn.pulltrace.test/x?sig={s["link-sig"]}>; rel="alternate"']]},
        {**common, "id": "k3", "method": "GET", "url": cdn, "started_at": 3.0, "status": 200,
         "response_headers": [["Content-Type", "application/octet-stream"]], "response_bytes": 10},
    ]


def _shape_needles() -> set[str]:
    needles = {v[-16:] for v in SHAPE_SECRETS.values()}
    needles.add(SHAPE_TOKEN.rsplit(".", 1)[1][-16:])
    return needles


@pytest.mark.parametrize("fmt", FORMATS)
def test_secrets_known_only_by_their_shape_reach_no_output(tmp_path, fmt):
    source = tmp_path / "shapes.json"
    source.write_text(json.dumps(shape_exchanges()))
    out = tmp_path / f"shapes.{fmt}"
    assert main(["report", str(source), "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    assert [n for n in _shape_needles() if n in text or quote(n, safe="") in text] == []
    if fmt == "json":  # masked, not dropped: the reader still sees what went where
        trace = json.loads(text)
        steps = {s["exchange"]["id"]: s["exchange"] for s in trace["sessions"][0]["steps"]}
        assert dict(steps["k2"]["request_headers"])["X-Auth-Token"] == "gAAA…"
        assert steps["k3"]["url"] == "https://cdn.pulltrace.test/t/eyJhbGci…/blobs/data"
        assert dict(steps["k2"]["response_headers"])["Location"] == steps["k3"]["url"]


def _lying_trace(tmp_path: Path) -> Path:
    """A trace JSON whose flags say "masked" and whose notes, errors and facts are not."""
    trace_path = tmp_path / "lying.json"
    assert main(["report", str(SEEDS / "001-dockerhub-alpine.json"), "--format", "json", "--show-secrets",
                 "-o", str(trace_path)]) == 0
    trace = json.loads(trace_path.read_text())
    signed = f"https://cdn.pulltrace.test/x?Signature={SHAPE_SECRETS['link-sig']}"
    trace["notes"].append(f"captured through https://ci:{SHAPE_SECRETS['api-key']}@proxy.pulltrace.test/")
    for session in trace["sessions"]:
        session["summary"]["errors"].append(f"GET {signed} failed with Bearer {SHAPE_TOKEN}")
        for step in session["steps"]:
            step["exchange"]["secrets_masked"] = True
    trace_path.write_text(json.dumps(trace))
    return trace_path


# The output dispatcher masks every format again, whatever the loaded trace claims.
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_trace_whose_flags_say_masked_is_masked_again(tmp_path, fmt):
    source = _lying_trace(tmp_path)
    token = json.loads(json.loads((SEEDS / "001-dockerhub-alpine.json").read_text())[1]["response_body_preview"])
    needles = _shape_needles() | {token["token"][-16:]}
    out = tmp_path / f"again.{fmt}"
    assert main(["report", str(source), "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    assert [n for n in needles if n in text or quote(n, safe="") in text] == []
