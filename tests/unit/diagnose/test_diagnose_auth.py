"""Auth rules on recorded pulls: each test breaks one thing in a healthy hub pull."""

from __future__ import annotations

import json

from diagnose_recorded import (
    AUTH,
    CHALLENGE,
    HUB,
    T0,
    UNAUTHORIZED,
    Recorder,
    bearer,
    healthy_hub_pull,
    make_token,
    masked,
    step_by_kind,
)

from pulltrace.diagnose import diagnose
from pulltrace.model import Severity, StepKind


def rules(session, **kw) -> list[str]:
    return [f.rule for f in diagnose(session, **kw)]


def ping_then_stop(headers: list[tuple[str, str]]) -> Recorder:
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 401, response_headers=headers, body=UNAUTHORIZED)
    return r


def denied_pull(repo: str, *, credentials: bool, show_token: bool, actions=()) -> Recorder:
    """Token granted with `actions` on `repo`, then the manifest refused with insufficient_scope."""
    token = make_token(repo=repo, actions=actions, sub="alice" if credentials else "")
    sent = token if show_token else masked(token)
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 401, response_headers=[("WWW-Authenticate", CHALLENGE)])
    account = "&account=alice" if credentials else ""
    scope = f"repository%3A{repo.replace('/', '%2F')}%3Apull"
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?scope={scope}&service={HUB}{account}",
          200, request_headers=[("Authorization", "Basic YWxp…")] if credentials else [],
          body=json.dumps({"token": sent, "expires_in": 300}))
    r.add(StepKind.ERROR, "GET", f"https://{HUB}/v2/{repo}/manifests/latest", 401, request_headers=bearer(sent),
          response_headers=[
              ("WWW-Authenticate", CHALLENGE + f',scope="repository:{repo}:pull",error="insufficient_scope"'),
          ],
          body='{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
               '"detail":[{"Type":"repository","Class":"","Name":"' + repo + '","Action":"pull"}]}]}',
          repository=repo, reference="latest")
    return r


def test_healthy_pulls_have_no_finding_above_info():
    for show in (False, True):
        for creds in (False, True):
            findings = diagnose(healthy_hub_pull(show_token=show, credentials=creds).session())
            assert [f for f in findings if f.severity != Severity.INFO] == []


def test_401_without_www_authenticate():
    findings = diagnose(ping_then_stop([]).session())
    assert findings[0].rule == "auth.no-challenge"
    assert findings[0].severity == Severity.ERROR
    assert HUB in findings[0].title and findings[0].steps == ["e1"]
    assert "WWW-Authenticate" in findings[0].cause


def test_malformed_challenge_without_realm():
    findings = diagnose(ping_then_stop([("WWW-Authenticate", f'Bearer service="{HUB}"')]).session())
    assert findings[0].rule == "auth.malformed-challenge"
    assert "realm" in findings[0].cause


def test_realm_that_is_not_a_url():
    findings = diagnose(ping_then_stop([("WWW-Authenticate", 'Bearer realm="auth.pulltrace.test/token"')]).session())
    assert findings[0].rule == "auth.malformed-challenge"


def test_realm_connection_refused():
    r = ping_then_stop([("WWW-Authenticate", CHALLENGE)])
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?scope=repository%3Alibrary%2Ftiny%3Apull&service={HUB}", None,
          error="[Errno 111] Connection refused")
    findings = diagnose(r.session())
    assert findings[0].rule == "auth.realm-unreachable"
    assert AUTH in findings[0].title and "refused" in findings[0].cause
    assert findings[0].steps == ["e2"]


def test_a_503_from_the_token_service_is_a_failure_of_the_service_not_unreachable():
    r = ping_then_stop([("WWW-Authenticate", CHALLENGE)])
    token_url = f"https://{AUTH}/token?scope=repository%3Alibrary%2Ftiny%3Apull&service={HUB}"
    r.add(StepKind.TOKEN, "GET", token_url, 503, body="Service Unavailable: the token backend is restarting")
    findings = diagnose(r.session())
    assert [f.rule for f in findings][:1] == ["auth.realm-server-error"]
    assert "auth.realm-unreachable" not in [f.rule for f in findings]
    assert findings[0].title == f"The token service {AUTH} failed with 503"


def test_a_502_from_a_proxy_that_could_not_connect_is_unreachable():
    r = ping_then_stop([("WWW-Authenticate", CHALLENGE)])
    token_url = f"https://{AUTH}/token?scope=repository%3Alibrary%2Ftiny%3Apull&service={HUB}"
    r.add(StepKind.TOKEN, "GET", token_url, 502, body="502 Bad Gateway: [Errno 111] Connection refused")
    assert diagnose(r.session())[0].rule == "auth.realm-unreachable"


def test_empty_basic_credentials_on_a_refused_token_request_are_anonymous():
    # skopeo's `Basic Og==` carries no username: a refusal means login required, not a wrong password.
    r = ping_then_stop([("WWW-Authenticate", CHALLENGE)])
    token_url = f"https://{AUTH}/token?scope=repository%3Aprivate%2Fsecret%3Apull&service={HUB}"
    r.add(StepKind.TOKEN, "GET", token_url, 401,
          request_headers=[("Authorization", "Basic Og==")],
          body='{"errors":[{"code":"UNAUTHORIZED"}]}')
    rules = [f.rule for f in diagnose(r.session())]
    assert "auth.wrong-credentials" not in rules


def test_realm_tls_untrusted():
    r = ping_then_stop([("WWW-Authenticate", CHALLENGE)])
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?service={HUB}", None,
          error="[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                "unable to get local issuer certificate (_ssl.c:1006)")
    findings = diagnose(r.session())
    assert findings[0].rule == "auth.realm-tls-untrusted"
    assert f"/etc/docker/certs.d/{AUTH}/ca.crt" in findings[0].fix


def test_realm_announced_but_never_reached():
    # Through mitmproxy an unreachable realm leaves no flow at all: the challenge is the last step.
    findings = diagnose(ping_then_stop([("WWW-Authenticate", CHALLENGE)]).session())
    assert findings[0].rule == "auth.realm-unreachable"
    assert f"https://{AUTH}/token" in findings[0].cause


def test_wrong_password_at_the_token_service():
    r = ping_then_stop([("WWW-Authenticate", CHALLENGE)])
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?account=admin&scope=repository%3Alibrary%2Ftiny%3Apull&service={HUB}",
          401, request_headers=[("Authorization", "Basic YWRt…")], body='{"details":"incorrect username or password"}')
    findings = diagnose(r.session())
    assert findings[0].rule == "auth.wrong-credentials"
    assert "'admin'" in findings[0].cause and "incorrect username or password" in findings[0].cause
    assert f"docker login {HUB}" in findings[0].fix


def test_wrong_password_at_a_basic_auth_registry():
    r = Recorder()
    basic = "basic.pulltrace.test"
    r.add(StepKind.PING, "GET", f"https://{basic}/v2/", 401,
          response_headers=[("WWW-Authenticate", 'Basic realm="Registry"')])
    r.add(StepKind.PING, "GET", f"https://{basic}/v2/", 401, request_headers=[("Authorization", "Basic YWRt…")],
          response_headers=[("WWW-Authenticate", 'Basic realm="Registry"')], body=UNAUTHORIZED)
    findings = diagnose(r.session(registry=basic))
    assert findings[0].rule == "auth.wrong-credentials"
    assert basic in findings[0].title


def test_anonymous_pull_of_a_private_repository():
    findings = diagnose(denied_pull("private/secret", credentials=False, show_token=False).session())
    assert findings[0].rule == "auth.anonymous-private"
    assert "private/secret" in findings[0].title
    assert f"docker login {HUB}" in findings[0].fix


def test_token_without_the_requested_scope_names_asked_and_granted():
    findings = diagnose(denied_pull("private/secret", credentials=True, show_token=True).session())
    f = findings[0]
    assert f.rule == "auth.insufficient-scope"
    assert "repository:private/secret:pull" in f.cause
    assert "access` claim lists no actions" in f.cause
    assert "'alice'" in f.title
    assert f.steps == ["e2", "e3"]


def test_insufficient_scope_with_masked_token_says_claims_unknown():
    f = diagnose(denied_pull("private/secret", credentials=True, show_token=False).session())[0]
    assert f.rule == "auth.insufficient-scope"
    assert "masked" in f.cause


def test_token_expired_mid_pull_and_not_renewed():
    token = make_token(lifetime=4)
    r = healthy_hub_pull(token=token, show_token=True)
    session = r.session()
    layer = step_by_kind(session, StepKind.BLOB_REDIRECT, 1)
    # A slow pull: the layer request goes out 70 s later and is refused.
    r.steps = r.steps[: layer.index]
    r.add(StepKind.ERROR, "GET", layer.exchange.url, 401, request_headers=bearer(token), at=T0 + 70,
          response_headers=[("WWW-Authenticate", CHALLENGE + ',error="invalid_token"')], body=UNAUTHORIZED)
    findings = diagnose(r.session())
    assert findings[0].rule == "auth.token-expired"
    assert findings[0].severity == Severity.ERROR
    assert "valid for 4 s" in findings[0].cause and "under 60 s" in findings[0].cause


def test_token_expired_but_renewed_is_a_warning():
    token = make_token(lifetime=4)
    r = healthy_hub_pull(token=token, show_token=False)
    session = r.session()
    layer = step_by_kind(session, StepKind.BLOB_REDIRECT, 1)
    r.steps = r.steps[: layer.index]
    # expires_in from the (masked) token body is enough to know the lifetime.
    step_by_kind(r.session(), StepKind.TOKEN).exchange.response_body_preview = json.dumps(
        {"token": masked(token), "expires_in": 4, "issued_at": "2023-11-14T22:13:20Z"})
    r.add(StepKind.ERROR, "GET", layer.exchange.url, 401, request_headers=bearer(masked(token)), at=T0 + 70,
          response_headers=[("WWW-Authenticate", CHALLENGE + ',error="invalid_token"')], body=UNAUTHORIZED)
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?scope=repository%3Alibrary%2Ftiny%3Apull&service={HUB}", 200,
          body=json.dumps({"token": "eyJhbGci…", "expires_in": 4}))
    r.add(StepKind.BLOB_REDIRECT, "GET", layer.exchange.url, 307, request_headers=bearer("eyJhbGci…"),
          response_headers=[("Location", "https://cdn.pulltrace.test/x")])
    findings = diagnose(r.session())
    assert [f.rule for f in findings] == ["auth.token-expired"]
    assert findings[0].severity == Severity.WARNING
    assert "fetched a new token" in findings[0].cause


def test_token_not_yet_valid_because_of_clock_skew():
    # The token service's clock runs 120 s ahead: nbf is in the registry's future.
    token = make_token(iat=T0 + 120)
    r = healthy_hub_pull(token=token, show_token=True)
    manifest = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    r.steps = r.steps[: manifest.index]
    r.add(StepKind.ERROR, "GET", manifest.exchange.url, 401, request_headers=bearer(token),
          response_headers=[("WWW-Authenticate", CHALLENGE + ',error="invalid_token"')], body=UNAUTHORIZED)
    findings = diagnose(r.session())
    assert findings[0].rule == "auth.clock-skew"
    assert findings[0].severity == Severity.ERROR
    assert "120 s ahead" in findings[0].cause
    assert "auth.token-rejected" not in [f.rule for f in findings]


def test_clock_skew_from_date_headers_with_a_masked_token():
    r = healthy_hub_pull()
    token_step = step_by_kind(r.session(), StepKind.TOKEN)
    token_step.exchange.response_body_preview = json.dumps({"token": "eyJhbGci…", "expires_in": 300})
    token_step.exchange.response_headers = [(k, v) for k, v in token_step.exchange.response_headers if k != "Date"]
    from diagnose_recorded import http_date
    token_step.exchange.response_headers.append(("Date", http_date(T0 - 300)))
    findings = diagnose(r.session())
    assert [f.rule for f in findings] == ["auth.clock-skew"]
    assert findings[0].severity == Severity.WARNING
    assert "behind" in findings[0].cause


def test_token_refused_for_another_reason():
    token = make_token()
    r = healthy_hub_pull(token=token, show_token=True)
    manifest = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    r.steps = r.steps[: manifest.index]
    r.add(StepKind.ERROR, "GET", manifest.exchange.url, 401, request_headers=bearer(token),
          response_headers=[("WWW-Authenticate", CHALLENGE + ',error="invalid_token"')], body=UNAUTHORIZED)
    findings = diagnose(r.session())
    assert findings[0].rule == "auth.token-rejected"
    assert "rootcertbundle" in findings[0].fix
