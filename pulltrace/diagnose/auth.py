"""Auth rules: challenges, the token realm, credentials, scopes, expiry and clock skew.

A 401 on a request without Authorization is the ordinary first step of the token dance;
only a 401/403 on a request that already carried credentials, or a challenge the client
cannot follow, is a problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pulltrace.auth import read_token_request
from pulltrace.diagnose.base import describe, finding, ok, position_of, recovered, status_text
from pulltrace.diagnose.facts import (
    TOKEN_LEEWAY_S,
    auth_scheme,
    bearer_challenge,
    error_codes,
    error_message,
    granted_scopes,
    host_of,
    is_token_step,
    read_challenges,
    registry_host,
    repository_of,
    request_claims,
    server_time,
    short,
    token_claims,
    token_expires_in,
    token_lifetime,
    transport_problem,
    v2_path,
)
from pulltrace.diagnose.manifests import missing_library_applies
from pulltrace.model import Finding, Session, Severity, Step


def _registry_steps(session: Session) -> list[Step]:
    """Steps that spoke the /v2/ API (not token, not CDN); worked out once per session (every
    auth rule asks) until its steps change."""
    cached = session.__dict__.get("_registry_steps")
    if cached is not None and cached[0] is session.steps and cached[1] == len(session.steps):
        return cached[2]
    found = [s for s in session.steps if not is_token_step(s) and v2_path(s.exchange.url) is not None]
    session.__dict__["_registry_steps"] = (session.steps, len(session.steps), found)
    return found


def _realms(session: Session) -> dict[str, Step]:
    """Every Bearer realm a registry announced, with the first step that announced it."""
    realms: dict[str, Step] = {}
    for step in _registry_steps(session):
        challenge = bearer_challenge(step.exchange)
        if challenge and challenge.realm and challenge.realm not in realms:
            realms[challenge.realm] = step
    return realms


def _realm_steps(session: Session) -> list[Step]:
    """Token requests: classified as such, or aimed at an announced realm's URL."""
    realm_targets = {(host_of(r), urlsplit(r).path) for r in _realms(session)}
    return [
        s
        for s in session.steps
        if is_token_step(s) or (host_of(s.exchange.url), urlsplit(s.exchange.url).path) in realm_targets
    ]


@dataclass(frozen=True)
class Credentials:
    present: bool
    account: str | None
    how: str  # "Basic credentials", "a refresh token", "a password form", "nothing"


def token_credentials(step: Step) -> Credentials:
    """What a token request presented. Masked headers keep their scheme, so this works masked."""
    ex = step.exchange
    req = read_token_request(ex.url, ex.request_body_preview if ex.method == "POST" else None)
    scheme = auth_scheme(ex)
    if scheme == "basic":
        return Credentials(True, req.account, "Basic credentials")
    if req.grant_type == "password":
        return Credentials(True, req.account, "a username and password (OAuth2 form)")
    if req.grant_type == "refresh_token":
        return Credentials(True, req.account, "a refresh token saved by `docker login`")
    if scheme == "bearer":
        return Credentials(True, req.account, "a bearer token")
    return Credentials(False, req.account, "nothing (anonymous)")


def _token_before(session: Session, step: Step) -> Step | None:
    """The last token step before `step` that handed out a token."""
    pos = position_of(session, step)
    for earlier in reversed(session.steps[:pos]):
        if is_token_step(earlier) and ok(earlier):
            return earlier
    return None


def _asked_scope(session: Session, step: Step) -> str | None:
    challenge = bearer_challenge(step.exchange)
    if challenge and challenge.scope:
        return challenge.scope
    token = _token_before(session, step)
    if token:
        scopes = read_token_request(token.exchange.url, token.exchange.request_body_preview).scopes
        if scopes:
            return " ".join(scopes)
    repo = repository_of(step)
    return f"repository:{repo}:pull" if repo else None


# --- rules ------------------------------------------------------------------------------

def no_or_malformed_challenge(session: Session, **_: object) -> list[Finding]:
    """401 with no WWW-Authenticate, or one that cannot be parsed: the client cannot log in."""
    out = []
    missing = [
        s for s in _registry_steps(session)
        if s.exchange.status == 401 and read_challenges(s.exchange).problem == "missing"
        # A server log records no response header at all: the challenge was not logged, not missing.
        and s.exchange.response_headers
    ]
    if missing:
        s = missing[0]
        host = host_of(s.exchange.url)
        out.append(finding(
            "auth.no-challenge",
            Severity.ERROR,
            f"{host} answered 401 without saying how to log in",
            f"{describe(s)} was refused (401 Unauthorized) with no WWW-Authenticate header, the header that "
            "tells a client where to fetch a token (a Bearer realm) or to send a password (Basic). "
            "Without it no client can authenticate.",
            f"Something between the client and the registry dropped the header: check that a reverse proxy in front of "
            f"{host} passes WWW-Authenticate through (nginx: no `proxy_hide_header WWW-Authenticate`, and "
            "`add_header … always` if you rewrite it), and that the registry's auth section is configured.",
            missing,
        ))
    bad = [
        s for s in _registry_steps(session)
        if s.exchange.status == 401 and read_challenges(s.exchange).problem not in (None, "missing")
    ]
    if bad:
        s = bad[0]
        read = read_challenges(s.exchange)
        out.append(finding(
            "auth.malformed-challenge",
            Severity.ERROR,
            f"{host_of(s.exchange.url)} sent a WWW-Authenticate header clients cannot parse",
            f"{describe(s)} answered 401 with WWW-Authenticate {short(read.header or '', 120)!r}: {read.problem}. "
            "A Bearer challenge needs a quoted realm URL (`Bearer realm=\"https://auth…/token\",service=\"…\"`).",
            "Fix the challenge the registry (or the proxy rewriting it) sends: quote every value, separate parameters "
            "with commas, and give Bearer an absolute https realm.",
            bad,
        ))
    for s in _registry_steps(session):
        challenge = bearer_challenge(s.exchange)
        if challenge and challenge.realm and not urlsplit(challenge.realm).scheme.startswith("http"):
            out.append(finding(
                "auth.malformed-challenge",
                Severity.ERROR,
                f"The token realm {challenge.realm!r} is not a URL",
                f"{describe(s)} points clients at realm {challenge.realm!r}, which has no http(s) scheme, "
                "so the token request cannot be made.",
                "Configure the registry's token realm as an absolute URL, e.g. `https://auth.example.com/token`.",
                [s],
            ))
            break
    return out


def _realm_failed(session: Session, step: Step) -> Finding:
    """A token service that answered, with a server error (503 while it restarts or is overloaded)."""
    host = host_of(step.exchange.url)
    body = short(error_message(step.exchange) or (step.exchange.response_body_preview or ""), 160)
    return finding(
        "auth.realm-server-error",
        Severity.ERROR,
        f"The token service {host} failed with {step.exchange.status}",
        f"{registry_host(session)} sent the client to {step.exchange.url.split('?')[0]} for a token; the token "
        f"service was reached and answered {status_text(step)}" + (f" ({body})" if body else "")
        + ", so no token was issued.",
        f"Retry later; if it repeats, check {host}'s status page or logs at the time of this step "
        "(a 503 is an overloaded or restarting service, not a network problem on the client's side).",
        [step],
    )


def realm_unreachable(session: Session, **_: object) -> list[Finding]:
    """The token service could not be reached, or its TLS certificate was not trusted."""
    out = []
    realms = _realms(session)
    for step in _realm_steps(session):
        ex = step.exchange
        problem = None
        if ex.status is None and ex.error:
            problem = transport_problem(ex.error)
        elif ex.status in (502, 503, 504):
            # A proxy (mitmproxy, nginx) answers 502 when it cannot reach the realm; its body says
            # why. Without such words the token service itself answered: it was reached, and failed.
            named = transport_problem(ex.response_body_preview)
            problem = named if named not in (None, "other") else ("other" if ex.status == 502 else None)
            if problem is None and not recovered(session, step):
                out.append(_realm_failed(session, step))
                continue
        if not problem or recovered(session, step):
            continue
        host = host_of(ex.url)
        registry = registry_host(session)
        why = short(ex.error or ex.response_body_preview or status_text(step), 160)
        if problem == "tls-untrusted":
            out.append(finding(
                "auth.realm-tls-untrusted",
                Severity.ERROR,
                f"The token service {host} has a TLS certificate this client does not trust",
                f"{registry} sent the client to {host} for a token, and the TLS handshake with {host} failed: {why}. "
                "The certificate is signed by a CA (certificate authority) the client does not know.",
                f"Install the CA that signed {host}'s certificate where the client looks: the system store "
                "(`update-ca-certificates`, then restart dockerd: Go reads the store once per process), or "
                f"`/etc/docker/certs.d/{host}/ca.crt`; for skopeo/podman `--cert-dir`. Through mitmproxy, also pass "
                "`--set ssl_verify_upstream_trusted_ca=<that CA>`.",
                [step],
            ))
        else:
            what = {
                "refused": "the connection was refused (nothing listening)",
                "dns": "its name does not resolve",
                "timeout": "the connection timed out",
            }.get(problem, f"the request failed ({why})")
            out.append(finding(
                "auth.realm-unreachable",
                Severity.ERROR,
                f"The token service {host} could not be reached",
                f"{registry} requires a token from {ex.url.split('?')[0]}, but {what}.",
                f"Check that {host} resolves and is reachable from the client (DNS, firewall, HTTP(S)_PROXY / "
                "NO_PROXY of the daemon), and that the realm the registry announces is the public address of its "
                "token service, not an internal one.",
                [step],
            ))
    if out:
        return out
    # Announced, never asked: the client failed before any request reached the realm
    # (through mitmproxy an unreachable upstream leaves only a refused CONNECT, no flow).
    # Only a challenge to a request without credentials counts: a 401 on a request that
    # carried a token means the client did reach the realm, earlier.
    realms = {r: s for r, s in realms.items() if not s.exchange.request_header("authorization")}
    if realms and not _realm_steps(session) and not any(ok(s) for s in session.steps if _is_content(s)):
        realm, announced_by = next(iter(realms.items()))
        out.append(finding(
            "auth.realm-unreachable",
            Severity.ERROR,
            f"The client never reached the token service {host_of(realm)}",
            f"{describe(announced_by)} asked for a token from {realm}, and no request to it was recorded; "
            "the pull then stopped. The client most likely could not connect to that host (DNS, refused, "
            "or a TLS failure before any HTTP was spoken).",
            f"Try `curl -v {realm}` from the client's machine; fix DNS, the proxy settings or the CA trust for "
            f"{host_of(realm)}.",
            [announced_by],
        ))
    return out


def _is_content(step: Step) -> bool:
    parsed = v2_path(step.exchange.url)
    return parsed is not None and parsed.endpoint in ("manifest", "blob")


def wrong_credentials(session: Session, **_: object) -> list[Finding]:
    """The token service (or a Basic-auth registry) refused the credentials the client sent."""
    out = []
    for step in _realm_steps(session):
        ex = step.exchange
        if ex.status not in (400, 401, 403) or recovered(session, step):
            continue
        creds = token_credentials(step)
        host = host_of(ex.url)
        detail = short(error_message(ex) or (ex.response_body_preview or ""), 120)
        if creds.present:
            who = f"account {creds.account!r}" if creds.account else "the saved account"
            out.append(finding(
                "auth.wrong-credentials",
                Severity.ERROR,
                f"The token service {host} refused the username or password",
                f"The client sent {creds.how} for {who} to {ex.url.split('?')[0]} and got {status_text(step)}"
                + (f" ({detail})" if detail else "")
                + ". The password (or token) is wrong, expired or revoked.",
                f"Log in again: `docker logout {registry_host(session)} && docker login {registry_host(session)}` "
                "(check the username; with a credential helper, update the helper's entry). A failed `docker login` "
                "keeps the old credentials, so do not trust an earlier success.",
                [step],
            ))
        else:
            out.append(_login_required(session, step, f"{host} refuses anonymous token requests ({status_text(step)})"))
    for step in _registry_steps(session):
        ex = step.exchange
        if ex.status != 401 or auth_scheme(ex) != "basic" or recovered(session, step):
            continue
        host = host_of(ex.url)
        out.append(finding(
            "auth.wrong-credentials",
            Severity.ERROR,
            f"{host} refused the username or password",
            f"{describe(step)} carried Basic credentials (a username and password) and {host} answered 401: "
            "the registry does not accept them.",
            f"Log in again: `docker logout {host} && docker login {host}`; check the username and that the "
            "account exists in the registry's htpasswd (or identity provider).",
            [step],
        ))
        break
    return out


def _login_required(session: Session, step: Step, how: str) -> Finding:
    repo = repository_of(step) or "this repository"
    registry = registry_host(session)
    return finding(
        "auth.anonymous-private",
        Severity.ERROR,
        f"{repo} on {registry} needs a login; the pull was anonymous",
        f"The client pulled without credentials and {how}. The repository is private (or does not exist: "
        "registries answer the same so as not to reveal private names).",
        f"Run `docker login {registry}` with an account that may pull {repo} (skopeo/podman: `--creds user:pass` "
        "or `login`), then pull again; if it should be public, make it public on the registry.",
        [step],
    )


def scope_denied(session: Session, **_: object) -> list[Finding]:
    """The registry refused a request the token was not good for: insufficient_scope / DENIED."""
    out: list[Finding] = []
    seen: set[str] = set()
    refused = [s for s in _registry_steps(session) if s.exchange.status in (401, 403) and not recovered(session, s)]
    if any(_is_content(s) for s in refused):
        refused = [s for s in refused if _is_content(s)]  # the image request names the repository; the ping does not
    for step in refused:
        ex = step.exchange
        challenge = bearer_challenge(ex)
        codes = set(error_codes(ex))
        scheme = auth_scheme(ex)
        insufficient = (challenge is not None and challenge.error == "insufficient_scope") or "DENIED" in codes
        if not insufficient and not (
            scheme is None and ex.status == 401 and _after_challenge_unanswered(session, step)
        ):
            continue
        if missing_library_applies(session, step):
            continue  # the name lacks library/: the manifest rule says so, and it is the real cause
        repo = repository_of(step) or ""
        if repo in seen:
            continue
        seen.add(repo)
        token = _token_before(session, step)
        creds = token_credentials(token) if token else Credentials(scheme == "basic", None, "nothing")
        if scheme is None and token is None:
            out.append(_login_required(
                session,
                step,
                f"{describe(step)} was refused ({status_text(step)}); the client had no credentials to send",
            ))
            continue
        if not creds.present:
            out.append(_login_required(
                session, step,
                f"the anonymous token did not allow pulling it, so {describe(step)} got {status_text(step)}",
            ))
            continue
        asked = _asked_scope(session, step) or "?"
        claims = (token_claims(token) if token else None) or request_claims(step)
        if claims is not None:
            granted = granted_scopes(claims)
            granted_text = ", ".join(granted) if granted else "nothing (its `access` claim lists no actions)"
        else:
            granted_text = "unknown here (the token is masked; `--show-secrets` keeps its claims)"
        who = f"account {creds.account!r}" if creds.account else "the logged-in account"
        out.append(finding(
            "auth.insufficient-scope",
            Severity.ERROR,
            f"{who.capitalize()} may not pull {repo} on {registry_host(session)}",
            f"The client asked for scope {asked} and the token granted {granted_text}; {describe(step)} was then "
            f"refused with {status_text(step)}. "
            f"Credentials were accepted, but this account lacks pull rights on {repo}.",
            f"Ask the registry's admin to grant {who} pull on {repo}, or log in as an account that has it "
            f"(`docker login {registry_host(session)}`). Check the repository name too: a typo looks the same.",
            [s for s in (token, step) if s is not None],
        ))
    return out


def _after_challenge_unanswered(session: Session, step: Step) -> bool:
    """A 401 the client never answered (no token request or Authorization after it): it had nothing to send."""
    if (
        step.exchange.status != 401
        or bearer_challenge(step.exchange) is None and not read_challenges(step.exchange).challenges
    ):
        return False
    pos = position_of(session, step)
    later = session.steps[pos + 1:]
    return not any(is_token_step(s) or s.exchange.request_header("authorization") for s in later)


def token_rejected(session: Session, **_: object) -> list[Finding]:
    """A bearer token the registry refused: expired mid-pull, not yet valid (clock skew), or not trusted."""
    out = []
    done: set[str] = set()
    for step in _registry_steps(session):
        ex = step.exchange
        if ex.status != 401 or auth_scheme(ex) != "bearer":
            continue
        challenge = bearer_challenge(ex)
        if challenge and challenge.error == "insufficient_scope":
            continue
        token = _token_before(session, step)
        if token is None:
            if challenge and challenge.error == "invalid_token" and "auth.token-rejected" not in done \
                    and not recovered(session, step):
                done.add("auth.token-rejected")
                out.append(_token_refused_unseen(step, challenge.params.get("error_description")))
            continue
        issued, expires = token_lifetime(token)
        when = server_time(ex) or ex.started_at
        came_back = recovered(session, step)
        severity = Severity.WARNING if came_back else Severity.ERROR
        outcome = (
            "The client fetched a new token and carried on." if came_back else "The client gave up, so the pull failed."
        )
        told = token_expires_in(token)
        sent_at = max(when, ex.started_at)
        deadlines = [d for d in (expires, (issued + told) if issued is not None and told else None) if d is not None]
        if deadlines and sent_at > min(deadlines):
            if "auth.token-expired" in done:
                continue
            done.add("auth.token-expired")
            lifetimes = [x for x in (told, (expires - issued) if issued is not None and expires is not None else None)
                         if x is not None and x > 0]
            lifetime = min(lifetimes) if lifetimes else None
            age = f"{sent_at - issued:.0f} s after it was issued" if issued is not None else "after it expired"
            short_hint = (
                " A token this short expires during most pulls; "
                "docker treats any lifetime under 60 s as 60 s and keeps using it."
                if lifetime is not None and lifetime < 60 else ""
            )
            out.append(finding(
                "auth.token-expired",
                severity,
                "The token expired in the middle of the pull",
                f"The token service {host_of(token.exchange.url)} issued a token valid for "
                f"{f'{lifetime:.0f} s' if lifetime is not None else 'an unknown time'}; {describe(step)} was sent "
                f"{age} and refused (401{' ' + challenge.error if challenge and challenge.error else ''}). {outcome}"
                + short_hint,
                "Raise the token lifetime on the token service (Docker Hub uses 300 s), or make the pull faster; "
                "a client that asks for a new token on 401 (or before `expires_in` runs out) recovers by itself.",
                [token, step],
            ))
            continue
        if any(step.id in f.steps for f in clock_skew(session)):
            continue  # the clocks disagree: the clock-skew rule explains this refusal
        if "auth.token-rejected" in done:
            continue
        done.add("auth.token-rejected")
        detail = challenge.params.get("error_description") if challenge else None
        out.append(finding(
            "auth.token-rejected",
            severity,
            f"{host_of(ex.url)} refused the token issued by {host_of(token.exchange.url)}",
            f"{describe(step)} carried a fresh token and was answered 401"
            + (f" ({challenge.error}{': ' + detail if detail else ''})" if challenge and challenge.error else "")
            + ". The registry does not accept tokens from this token service: its signing certificate, issuer "
            f"(`iss`) or service name (`aud`) do not match the registry's configuration. {outcome}",
            "Make the registry's `auth.token` settings (rootcertbundle, issuer, service) match the token service "
            "that the realm points to; check the realm in the 401 challenge is the intended token service.",
            [token, step],
        ))
    return out


def _token_refused_unseen(step: Step, detail: str | None) -> Finding:
    """A token refused as invalid whose issuing is not in this session (fetched long before)."""
    host = host_of(step.exchange.url)
    return finding(
        "auth.token-rejected",
        Severity.ERROR,
        f"{host} refused the client's token as invalid or expired",
        f"{describe(step)} carried a bearer token and was answered 401 error=\"invalid_token\""
        + (f" ({detail})" if detail else "")
        + ". The token was fetched earlier than this capture shows; it has most likely expired "
        "(a slow pull outliving a short token lifetime), or the clocks of the token service and the registry disagree.",
        "Pull again (a fresh token is fetched); if it recurs on slow pulls, raise the token lifetime on the token "
        "service; check both servers' clocks (NTP).",
        [step],
    )


def clock_skew(session: Session, **_: object) -> list[Finding]:
    """Clocks disagree: a token `nbf`/`iat` ahead of the registry's Date, or two servers' Dates apart."""
    out = []
    tokens = [s for s in session.steps if is_token_step(s) and ok(s)]
    for token in tokens:
        claims = token_claims(token) or {}
        # iat is the issuer's clock; nbf is often backdated on purpose (Docker Hub: iat - 300 s),
        # so it tells only whether the registry will find the token "not yet valid".
        iat = claims.get("iat") if isinstance(claims.get("iat"), (int, float)) else None
        nbf = claims.get("nbf") if isinstance(claims.get("nbf"), (int, float)) else None
        pos = position_of(session, token)
        users = [s for s in session.steps[pos + 1:] if auth_scheme(s.exchange) == "bearer" and server_time(s.exchange)]
        if not users:
            continue
        use = users[0]
        registry_now = server_time(use.exchange)
        assert registry_now is not None
        # Subtract how long after the token the request went out, so only clock difference remains.
        elapsed = max(0.0, use.exchange.started_at - token.exchange.started_at)
        skew = None
        basis = ""
        if iat is not None:
            skew = iat - (registry_now - elapsed)
            basis = f"the token's iat (issued at) is {_utc(iat)}"
        else:
            token_now = server_time(token.exchange)
            if token_now is not None:
                skew = token_now - (registry_now - elapsed)
                basis = f"the token service's Date header said {_utc(token_now)}"
        if nbf is not None and nbf - registry_now > TOKEN_LEEWAY_S:
            skew = max(skew or 0.0, nbf - registry_now)
            basis = f"the token's nbf (not before) is {_utc(nbf)}"
        if skew is None or abs(skew) <= TOKEN_LEEWAY_S / 2:
            continue
        refused = use.exchange.status == 401 and not recovered(session, use)
        too_early = skew > TOKEN_LEEWAY_S
        severity = Severity.ERROR if refused and too_early else Severity.WARNING
        direction = "ahead of" if skew > 0 else "behind"
        out.append(finding(
            "auth.clock-skew",
            severity,
            f"The clocks of {host_of(token.exchange.url)} and {host_of(use.exchange.url)} differ by {abs(skew):.0f} s",
            f"{basis}, while {host_of(use.exchange.url)}'s Date header said {_utc(registry_now)} "
            "when the token was used: "
            f"the token service's clock is {abs(skew):.0f} s {direction} the registry's. "
            + (
                "The registry saw a token that is not valid yet and refused it (401)."
                if refused and too_early
                else f"Registries allow about {TOKEN_LEEWAY_S:.0f} s of difference; beyond that, tokens are refused as "
                "not yet valid or already expired."
            ),
            f"Synchronise the clocks of both servers with NTP (`timedatectl set-ntp true`, chrony); check "
            f"`date -u` on {host_of(token.exchange.url)} and {host_of(use.exchange.url)}.",
            [token, use],
        ))
        break
    return out


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S UTC")


RULES = (no_or_malformed_challenge, realm_unreachable, wrong_credentials, scope_denied, token_rejected, clock_skew)
