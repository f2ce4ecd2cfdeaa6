"""The "pulltrace" contentview on recorded registry bodies (samples/lab), and through
mitmproxy's own contentview machinery on whichever mitmproxy line is installed (11 or 12)."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import contentviews, http
from mitmproxy.test import taddons, tflow

from pulltrace.capture import contentview
from pulltrace.capture.addon import PullTrace
from pulltrace.capture.contentview import render

ROOT = Path(__file__).resolve().parents[3]
MITMPROXY12 = hasattr(contentviews, "registry")


def recorded(sample: str, kind: str, status: int = 200) -> tuple[bytes, str | None, list[str]]:
    """The first recorded response of a step kind: body, Content-Type, WWW-Authenticate values."""
    trace = json.loads((ROOT / "samples" / "lab" / sample).read_text())
    for session in trace["sessions"]:
        for step in session["steps"]:
            ex = step["exchange"]
            if step["kind"] == kind and ex["status"] == status:
                headers = ex["response_headers"]
                ctype = next((v for k, v in headers if k.lower() == "content-type"), None)
                challenges = [v for k, v in headers if k.lower() == "www-authenticate"]
                return (ex["response_body_preview"] or "").encode(), ctype, challenges
    raise AssertionError(f"no {kind} {status} in {sample}")


def lines_of(sample: str, kind: str, status: int = 200) -> list[str]:
    body, ctype, challenges = recorded(sample, kind, status)
    shown = render(body, content_type=ctype, challenges=challenges)
    assert shown is not None
    return shown.lines


# Claims as the lab's token service issued them (samples/lab/docker-hub-multi.json, token step);
# the recorded body holds only the masked token, so the JWT is rebuilt from them.
CLAIMS = {"iss": "pulltrace-lab-token-service", "sub": "", "aud": "hub.pulltrace.test", "exp": 1795513892,
          "nbf": 1795513592, "iat": 1795513592, "jti": "5cc152239b2b4689c98dd9f9d4973788",
          "access": [{"type": "repository", "name": "library/multi", "actions": ["pull"]}]}
TOKEN = jwt.encode(CLAIMS, "k" * 32, algorithm="HS256")
TOKEN_BODY = json.dumps({"token": TOKEN, "access_token": TOKEN, "expires_in": 300,
                         "issued_at": "2026-11-24T09:46:32Z"}).encode()


def test_index_is_a_table_of_platforms():
    assert lines_of("docker-hub-multi.json", "manifest-index") == [
        "Index",
        "media type  application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests   3",
        "",
        "#  platform        size   media type                                            digest",
        "1  linux/amd64     423 B  application/vnd.docker.distribution.manifest.v2+json  "
        "sha256:7541a81a0533dcd24f15943834d9d24b3ad4aa78da4ed17ee9fcd90bab0a0fc2",
        "2  linux/arm64/v8  423 B  application/vnd.docker.distribution.manifest.v2+json  "
        "sha256:dfb12231144d961247c95e0eb34459339a184fcafe849ad488c39379b00e7d99",
        "3  linux/arm/v7    423 B  application/vnd.docker.distribution.manifest.v2+json  "
        "sha256:c4ff71f37762e005596ae50bba3836b1b9528dd2c2ba1a50089980c61dc7a3c7",
    ]


def test_manifest_is_config_and_layers_with_size_type_and_digest():
    assert lines_of("docker-hub-multi.json", "manifest") == [
        "Manifest",
        "media type  application/vnd.docker.distribution.manifest.v2+json",
        "layers      1, 679 B (679 bytes)",
        "",
        "layer   size   media type                                         digest",
        "config  462 B  application/vnd.docker.container.image.v1+json     "
        "sha256:27408dac4428a23e6a3d4f163d9f9800a593590d01fb981f63793274bf3bbb63",
        "1       679 B  application/vnd.docker.image.rootfs.diff.tar.gzip  "
        "sha256:4c72f0d149a6f8b2d3c948ea3c36553371fbdf329cc0c510ef0ef014e1ea7ca0",
    ]


def test_oci_manifest_sums_its_layers():
    lines = lines_of("ctr-pull-multi-oci.json", "manifest")
    assert lines[1] == "media type  application/vnd.oci.image.manifest.v1+json"
    body, _, _ = recorded("ctr-pull-multi-oci.json", "manifest")
    layers = json.loads(body)["layers"]
    total = sum(d["size"] for d in layers)
    assert lines[2].startswith(f"layers      {len(layers)}, ") and lines[2].endswith(f"({total} bytes)")
    assert [line.split()[-1] for line in lines[6:]] == [d["digest"] for d in layers]


def test_token_response_shows_claims_and_lifetime_never_the_token():
    shown = render(TOKEN_BODY, content_type="application/json")
    assert shown is not None and shown.description == "pulltrace: token response"
    text = "\n".join(shown.lines)
    assert TOKEN not in text and TOKEN.split(".")[1] not in text and TOKEN.split(".")[2] not in text
    assert shown.lines[:6] == [
        "Token response",
        f"token       {TOKEN[:8]}…",
        "issued at   2026-11-24T09:46:32Z",
        "expires in  300 s (5 min)",
        "lifetime    300 s (5 min) (JWT exp - iat)",
        "",
    ]
    assert "  exp     1795513892  (2026-11-24 09:51:32 UTC)" in shown.lines
    assert "  aud     hub.pulltrace.test" in shown.lines
    assert shown.lines[-3:] == ["access", "  type        name           actions", "  repository  library/multi  pull"]


def test_recorded_masked_token_is_an_opaque_token_and_its_lifetime():
    assert lines_of("docker-hub-multi.json", "token") == [
        "Token response",
        "token       eyJhbGci…",
        "issued at   2026-11-24T09:46:32Z",
        "expires in  300 s (5 min)",
        "claims      none readable (an opaque token, not a JWT)",
    ]


def test_token_without_expiry_says_the_spec_default_and_masks_the_refresh_token():
    refresh = "r3fr35h-" + "x" * 40
    shown = render(json.dumps({"access_token": "opaque-token-value-123456", "refresh_token": refresh}).encode())
    assert shown is not None
    assert "expires in  not given: clients assume 60 s (token spec)" in shown.lines
    assert f"refresh     {refresh[:8]}… (the client may store it for later pulls)" in shown.lines
    assert refresh not in "\n".join(shown.lines) and "opaque-token-value-123456" not in "\n".join(shown.lines)


def test_denied_manifest_shows_challenge_scope_and_registry_error():
    assert lines_of("doctor-alice-denied.json", "manifest", 401) == [
        "CHALLENGE",
        "Bearer",
        "  realm   https://auth.pulltrace.test/token",
        "  service hub.pulltrace.test",
        "  scope   repository:private/secret:pull",
        "            repository private/secret: pull",
        "  error   insufficient_scope",
        "",
        "REGISTRY ERROR",
        "code          message",
        "UNAUTHORIZED  authentication required",
        "",
        "detail",
        '  1. [{"Type": "repository", "Class": "", "Name": "private/secret", "Action": "pull"}]',
    ]


def test_head_401_shows_its_challenge_though_it_has_no_body():
    body, ctype, challenges = recorded("ctr-pull-multi-oci.json", "manifest-head", 401)
    assert body == b""
    shown = render(body, content_type=ctype, challenges=challenges)
    assert shown is not None and shown.description == "pulltrace: challenge"
    assert shown.lines[:2] == ["Challenge", "Bearer"]
    assert "            repository library/multi-oci: pull" in shown.lines


def test_unparseable_challenge_is_said_not_raised():
    shown = render(b"", challenges=['Bearer service="x"'])
    assert shown is not None
    assert shown.lines == ["Challenge", "cannot parse: Bearer challenge without a realm: 'Bearer service=\"x\"'"]


def test_manifest_content_type_with_broken_body_says_why():
    shown = render(b'{"layers": [{"digest": "nope"}]}', content_type="application/vnd.oci.image.manifest.v1+json")
    assert shown is not None
    assert shown.lines == ["Manifest",
                           "cannot read this manifest: layers[0].digest 'nope' is not a digest (algorithm:hex)"]


@pytest.mark.parametrize("body, ctype", [
    (b"", None),
    (b"", "application/vnd.oci.image.manifest.v1+json"),  # a HEAD answer
    (b'{"name": "library/multi", "tags": ["latest"]}', "application/json"),  # a tag list
    (b"\x1f\x8b\x08\x00 gzip", "application/octet-stream"),  # a layer
    (b"<html>hi</html>", "text/html"),
    # JSON starting past the 1 KiB head is left to the JSON view
    (b" " * 2000 + b'{"errors": [{"code": "DENIED"}]}', "application/json"),
    (b'{"token": 12}', "application/json"),  # not a token response
])
def test_other_bodies_are_not_ours(body, ctype):
    assert render(body, content_type=ctype) is None


def test_registry_error_text_is_masked():
    body = json.dumps({"errors": [{"code": "DENIED", "message": f"bad token Bearer {TOKEN}"}]}).encode()
    shown = render(body)
    assert shown is not None and TOKEN not in "\n".join(shown.lines)
    assert shown.lines[2].startswith("DENIED  bad token Bearer eyJhbGci")


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                  max_size=4), max_leaves=20)
KEYS = st.sampled_from(["token", "access_token", "expires_in", "errors", "manifests", "layers", "config",
                        "mediaType", "schemaVersion", "issued_at", "refresh_token", "code", "message"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, JSONISH, max_size=5), st.sampled_from([None, "application/json",
                                                                      "application/vnd.oci.image.index.v1+json"]))
def test_any_json_object_renders_or_declines_without_raising(data, ctype):
    shown = render(json.dumps(data).encode(), content_type=ctype)
    assert shown is None or (shown.lines and all("\n" not in line and "\x1b" not in line for line in shown.lines))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\'),
               min_size=24, max_size=80))
def test_no_token_is_ever_shown(token):
    shown = render(json.dumps({"token": token, "refresh_token": token[::-1]}).encode())
    assert shown is not None
    text = "\n".join(shown.lines)
    assert token not in text and token[::-1] not in text


# -- through mitmproxy's own machinery ------------------------------------------------
def response_flow(body: bytes, ctype: str, challenge: str | None = None) -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    flow.response = http.Response.make(401 if challenge else 200, body, {"Content-Type": ctype})
    if challenge:
        flow.response.headers["WWW-Authenticate"] = challenge
    return flow


def shown_by_mitmproxy(flow: http.HTTPFlow, view: str) -> tuple[str, str]:
    """(view name or description, text) as mitmweb would get them for the response."""
    if MITMPROXY12:
        pretty = contentviews.prettify_message(flow.response, flow, view_name=view)
        return str(pretty.view_name), pretty.text
    description, lines, _ = contentviews.get_message_content_view(view, flow.response, flow)
    return description, "\n".join("".join(text for _, text in line) for line in lines)


@pytest.fixture
def registered():
    with taddons.context():  # mitmproxy 12 reads ctx.options while choosing a view
        contentview.register()
        yield
        contentview.unregister()


def view_registered() -> bool:
    if MITMPROXY12:
        return "pulltrace" in contentviews.registry
    return contentviews.get("pulltrace") is not None


def test_mitmproxy_auto_picks_the_view_for_a_manifest_and_not_for_other_json(registered):
    body, ctype, _ = recorded("docker-hub-multi.json", "manifest-index")
    flow = response_flow(body, ctype or "")
    name, text = shown_by_mitmproxy(flow, "pulltrace")
    assert name == ("pulltrace" if MITMPROXY12 else "pulltrace: index")
    assert "1  linux/amd64     423 B  application/vnd.docker.distribution.manifest.v2+json  " in text
    assert shown_by_mitmproxy(flow, "auto") == (name, text)
    assert shown_by_mitmproxy(flow, "raw")[1] != text
    other = response_flow(b'{"name": "library/multi", "tags": ["latest"]}', "application/json")
    assert shown_by_mitmproxy(other, "auto")[0] != name and "latest" in shown_by_mitmproxy(other, "auto")[1]


def test_mitmproxy_shows_a_401_challenge_with_no_body(registered):
    flow = response_flow(b"", "application/json", 'Bearer realm="https://auth.example/token",service="reg"')
    name, text = shown_by_mitmproxy(flow, "auto")
    assert "pulltrace" in name
    assert text.splitlines()[:3] == ["Challenge", "Bearer", "  realm   https://auth.example/token"]


def test_addon_registers_the_view_on_load_and_removes_it_when_done(tmp_path):
    pt = PullTrace()
    with taddons.context(pt) as tctx:
        tctx.configure(pt, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        assert view_registered()
        pt.done()
        if not MITMPROXY12:  # 12 replaces a view of the same name on the next add instead
            assert not view_registered()
    # A second load (a script reload) registers it again without a duplicate-name error.
    pt2 = PullTrace()
    with taddons.context(pt2) as tctx:
        tctx.configure(pt2, pulltrace_dir=str(tmp_path), pulltrace_outputs="jsonl")
        assert view_registered()
        pt2.done()
