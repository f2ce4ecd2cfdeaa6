"""Transport rules: untrusted TLS, unreachable hosts, HTTP spoken to HTTPS (and the reverse),
plain-HTTP fallbacks, server errors, and pulls that never went through the proxy."""

from __future__ import annotations

from pulltrace.auth import read_token_request
from pulltrace.diagnose.base import describe, finding, ok, position_of, recovered, status_text
from pulltrace.diagnose.facts import (
    auth_scheme,
    host_of,
    hostname_of,
    is_cdn_step,
    is_token_step,
    kind_of,
    registry_host,
    scheme_of,
    short,
    transport_problem,
    v2_path,
)
from pulltrace.model import Finding, Session, Severity, Step, StepKind

# Bodies web servers send when a request arrives in the wrong protocol.
_PLAIN_TO_TLS_BODIES = ("plain http request was sent to https port", "client sent an http request to an https server")


def _problem(step: Step) -> str | None:
    ex = step.exchange
    if ex.status is None:
        return transport_problem(ex.error) if ex.error else "other"
    body = (ex.response_body_preview or "").lower()
    if ex.status == 400 and any(text in body for text in _PLAIN_TO_TLS_BODIES):
        return "http-to-https"
    if ex.status in (502, 503, 504) and not (ex.response_header("docker-distribution-api-version")):
        # A proxy (mitmproxy) answering for an upstream it could not reach: its body names the failure.
        named = transport_problem(body)
        return named if named != "other" else None
    return None


def _judged_here(step: Step) -> bool:
    """Registry API calls and CDN downloads; token-service failures belong to the auth rules,
    which name the realm."""
    if is_token_step(step):
        return False
    return v2_path(step.exchange.url) is not None or is_cdn_step(step)


def connection_failures(session: Session, **_: object) -> list[Finding]:
    out = []
    seen: set[tuple[str, str]] = set()
    for step in session.steps:
        problem = _problem(step)
        if not problem or not _judged_here(step):
            continue
        host = host_of(step.exchange.url)
        if (problem, host) in seen:
            continue
        seen.add((problem, host))
        if problem == "https-to-http" and _fell_back_to_http(session, step):
            continue  # an insecure registry working as configured; transport.plain-http says so
        came_back = recovered(session, step) or _fell_back_to_http(session, step)
        made = _FINDINGS.get(problem, _other)(session, step, came_back)
        if made:
            out.append(made)
    return out


def _fell_back_to_http(session: Session, step: Step) -> bool:
    """docker retries a failed https registry over http:// when it treats it as insecure."""
    if scheme_of(step.exchange.url) != "https":
        return False
    pos = position_of(session, step)
    host = hostname_of(step.exchange.url)
    return any(
        scheme_of(s.exchange.url) == "http" and hostname_of(s.exchange.url) == host and ok(s)
        for s in session.steps[pos + 1:]
    )


def _tls_untrusted(session: Session, step: Step, came_back: bool) -> Finding:
    host = host_of(step.exchange.url)
    why = short(step.exchange.error or step.exchange.response_body_preview or "", 160)
    return finding(
        "transport.tls-untrusted",
        Severity.WARNING if came_back else Severity.ERROR,
        f"The client does not trust {host}'s TLS certificate",
        f"{describe(step)} failed in the TLS handshake: {why}. The certificate is signed by a CA (certificate "
        "authority) this client does not know, or was issued for another name."
        + (" The client then went on another way (see the following steps)." if came_back else ""),
        f"Give the client the CA that signed {host}'s certificate: `/etc/docker/certs.d/{host}/ca.crt` for dockerd, "
        "the system store (`update-ca-certificates`, then restart the daemon: Go reads it once per process), "
        "`--cert-dir` for skopeo/podman; through mitmproxy also `--set ssl_verify_upstream_trusted_ca=<CA>`. "
        f"Only for a test registry: list {host} in `insecure-registries`.",
        [step],
    )


def _https_to_http(session: Session, step: Step, came_back: bool) -> Finding:
    host = host_of(step.exchange.url)
    return finding(
        "transport.https-to-http",
        Severity.WARNING if came_back else Severity.ERROR,
        f"The client spoke HTTPS to {host}, which only speaks plain HTTP",
        f"{describe(step)} tried a TLS handshake and got a plain HTTP answer "
        f"({short(step.exchange.error or '', 120)}): "
        f"the registry at {host} serves http:// only."
        + (" The client then retried over plain HTTP." if came_back else ""),
        f"Either serve {host} over TLS, or tell the client it is an insecure (plain-HTTP) registry: dockerd "
        f'`"insecure-registries": ["{host}"]` in /etc/docker/daemon.json and restart it; skopeo/podman '
        f"`--tls-verify=false`; containerd `--plain-http`; pulltrace `--insecure-registry {host}`.",
        [step],
    )


def _http_to_https(session: Session, step: Step, came_back: bool) -> Finding:
    host = host_of(step.exchange.url)
    return finding(
        "transport.http-to-https",
        Severity.WARNING if came_back else Severity.ERROR,
        f"The client spoke plain HTTP to {host}, which expects HTTPS",
        f"{describe(step)} was sent as http:// to a port that speaks TLS; the server answered "
        f"{status_text(step) if step.exchange.status else short(step.exchange.error or '', 120)}.",
        f"Use https://{hostname_of(step.exchange.url)} (drop the `http://` scheme or the plain-HTTP option such as "
        f"skopeo's `--tls-verify=false` / containerd's `--plain-http`), or check the port: plain registries often "
        "listen on :5000, TLS ones on :443.",
        [step],
    )


def _unreachable(session: Session, step: Step, came_back: bool) -> Finding:
    host = host_of(step.exchange.url)
    problem = transport_problem(step.exchange.error or step.exchange.response_body_preview)
    what = {
        "refused": "the connection was refused: nothing listens on that port",
        "dns": "the name does not resolve",
        "timeout": "the connection timed out",
    }.get(problem or "", short(step.exchange.error or "", 120))
    return finding(
        "transport.unreachable",
        Severity.WARNING if came_back else Severity.ERROR,
        f"{host} could not be reached",
        f"{describe(step)} got no answer: {what}.",
        f"Check the name and port of the registry, that {hostname_of(step.exchange.url)} resolves on the client "
        "(`getent hosts`), firewalls, and the HTTP(S)_PROXY/NO_PROXY of the process that pulls (dockerd reads them "
        "only at start).",
        [step],
    )


def _other(session: Session, step: Step, came_back: bool) -> Finding | None:
    if came_back:
        return None
    return finding(
        "transport.failed",
        Severity.ERROR,
        f"The request to {host_of(step.exchange.url)} failed without an answer",
        f"{describe(step)} failed: "
        f"{short(step.exchange.error or step.exchange.response_body_preview or 'no detail', 200)}.",
        "Retry; if it persists, reproduce with `curl -v` against the same URL to see where the connection breaks.",
        [step],
    )


_FINDINGS = {
    "tls-untrusted": _tls_untrusted,
    "https-to-http": _https_to_http,
    "http-to-https": _http_to_https,
    "refused": _unreachable,
    "dns": _unreachable,
    "timeout": _unreachable,
}


def plain_http_fallback(session: Session, **_: object) -> list[Finding]:
    """The client used http:// with a registry: traffic (and any credentials) travel unencrypted."""
    plain = [
        s for s in session.steps
        if scheme_of(s.exchange.url) == "http" and v2_path(s.exchange.url) is not None and ok(s)
    ]
    if not plain:
        return []
    host = host_of(plain[0].exchange.url)
    leaked = [s for s in plain if auth_scheme(s.exchange)]
    tried_https = any(
        scheme_of(s.exchange.url) == "https" and hostname_of(s.exchange.url) == hostname_of(plain[0].exchange.url)
        and not ok(s)
        for s in session.steps
    )
    return [finding(
        "transport.plain-http",
        Severity.WARNING if leaked else Severity.INFO,
        f"The pull from {host} used plain HTTP" + (" after HTTPS failed" if tried_https else ""),
        (f"The client first tried HTTPS, failed, and fell back to http://{host}. " if tried_https else "")
        + "Everything, including "
        f"{'the credentials in ' + str(len(leaked)) + ' request(s)' if leaked else 'the image'}, "
        "crossed the network unencrypted and unauthenticated (dockerd treats registries on 127.0.0.0/8 and those "
        "in `insecure-registries` this way).",
        f"Serve {host} over TLS and remove it from `insecure-registries`; "
        "until then, never send real credentials to it.",
        plain[:1] + leaked[:3],
    )]


def server_errors(session: Session, **_: object) -> list[Finding]:
    """5xx from the registry itself that the client never got past."""
    for step in session.steps:
        ex = step.exchange
        if ex.status is None or ex.status < 500 or recovered(session, step):
            continue
        if is_token_step(step):
            continue  # the token service's own failures are the auth rules' (auth.realm-server-error)
        if _problem(step):
            continue  # a proxy's 502 for an unreachable upstream: named by connection_failures
        host = host_of(ex.url)
        return [finding(
            "registry.server-error",
            Severity.ERROR,
            f"{host} failed with {ex.status}",
            f"{describe(step)} answered {status_text(step)}"
            + (f": {short(ex.response_body_preview or '', 160)}" if ex.response_body_preview else "")
            + ". The server (or a proxy in front of it) broke while answering; the client did not get past it.",
            f"Retry later; if it repeats, read {host}'s logs at the time of this step. A pull-through mirror answers "
            "5xx when its upstream is unreachable.",
            [step],
        )]
    return []


def proxy_bypass(session: Session, **_: object) -> list[Finding]:
    """A capture with a ping (and maybe a token) but no manifest or blob: the rest went around the proxy."""
    if session.action not in ("pull", ""):
        return []
    if not session.steps:
        return [no_traffic_finding()]
    endpoints = {p.endpoint for p in (v2_path(s.exchange.url) for s in session.steps) if p is not None}
    if endpoints & {"manifest", "blob", "tags", "catalog", "upload"}:
        return []
    if any(kind_of(s) in (StepKind.CDN_DOWNLOAD, StepKind.BLOB_REDIRECT, StepKind.MANIFEST, StepKind.MANIFEST_INDEX,
                      StepKind.MANIFEST_HEAD, StepKind.LAYER_BLOB, StepKind.CONFIG_BLOB) for s in session.steps):
        return []
    if any(not ok(s) and not (s.exchange.status == 401 and not s.exchange.request_header("authorization"))
           for s in session.steps):
        return []  # the pull failed early; other rules explain why
    tokens = [s for s in session.steps if is_token_step(s)]
    scoped = [s for s in tokens if read_token_request(s.exchange.url, s.exchange.request_body_preview).scopes]
    if tokens and not scoped:
        return []  # a `docker login`: ping, an unscoped token, ping — nothing to pull
    registry = registry_host(session) or "the registry"
    return [finding(
        "transport.proxy-bypass",
        Severity.WARNING,
        f"Only the start of the pull from {registry} went through the proxy",
        f"The capture shows the client greeting {registry} ({len(session.steps)} step(s): ping"
        + (", token" if tokens else "")
        + ") but no manifest or blob request. The rest of the pull went around the proxy, or the client stopped "
        "(a `docker login` looks the same).",
        "Go clients never proxy `localhost` or loopback addresses (127.0.0.0/8) and skip hosts in NO_PROXY; dockerd "
        "takes HTTP(S)_PROXY only from its start environment. Use a registry name that resolves to a non-loopback "
        "address, clear NO_PROXY for it, and restart the daemon with the proxy set.",
        session.steps,
    )]


def no_traffic_finding() -> Finding:
    """Nothing at all was captured: the client did not use the proxy."""
    return finding(
        "transport.proxy-bypass",
        Severity.WARNING,
        "Nothing of the pull was captured",
        "The capture holds no registry traffic: the client did not send its requests through the proxy, or the "
        "image was already present and nothing was fetched.",
        "Check that the pulling process has HTTP(S)_PROXY pointing at pulltrace and that the registry is not "
        "`localhost`/127.x (Go clients never proxy loopback) or listed in NO_PROXY; restart dockerd after changing "
        "its proxy. Remove the image first (`docker rmi`) to see a full pull.",
        [],
    )


RULES = (connection_failures, plain_http_fallback, server_errors, proxy_bypass)
