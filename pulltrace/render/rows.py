"""The data every view renders: rows built once from a Trace, then handed to
tabulate, Markdown or jinja2 unchanged. No formatting decisions of one view here."""

from __future__ import annotations

import http
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pulltrace import redact
from pulltrace.manifest import ManifestError, ParsedManifest, parse_manifest
from pulltrace.model import Exchange, Finding, Headers, Session, Step, StepKind, Trace, facts_to_dict
from pulltrace.render import fmt
from pulltrace.render.i18n import Translate, translator
from pulltrace.render.speed import DeliveryRow, delivery_rows, rate
from pulltrace.timing import throughput, time_split

# The response headers a reader of a pull needs to see without opening the details:
# the challenge, the redirect, the digest the client verifies, what and how much came back.
KEY_RESPONSE_HEADERS = (
    "www-authenticate",
    "location",
    "docker-content-digest",
    "content-type",
    "content-length",
)
# Docker Hub's pull limits (RateLimit-Limit, RateLimit-Remaining, Docker-RateLimit-Source).
KEY_HEADER_PREFIXES = ("ratelimit-", "docker-ratelimit-")
KEY_REQUEST_HEADERS = ("authorization",)

# Kinds whose server is the token service rather than the registry.
AUTH_KINDS = frozenset({StepKind.TOKEN, StepKind.LOGIN})


@dataclass(frozen=True)
class LinkRow:
    """A clickable relation: `answers #1`."""

    rel: str
    label: str
    anchor: str
    number: int | None
    note: str = ""


@dataclass
class StepRow:
    number: int
    anchor: str
    id: str
    kind: str
    kind_label: str
    method: str
    url: str
    host: str
    path: str
    http_version: str
    status: int | None
    status_text: str
    key_request_headers: Headers
    key_response_headers: Headers
    request_headers: Headers
    response_headers: Headers
    content_type: str
    bytes: int | None
    size: str
    duration_ms: float | None
    time: str
    start_ms: float
    lane: str
    links: list[LinkRow] = field(default_factory=list)
    request_body: str | None = None
    response_body: str | None = None
    body_sha256: str | None = None
    error: str | None = None
    info: list[tuple[str, str]] = field(default_factory=list)
    phases: list[tuple[str, str]] = field(default_factory=list)
    token_claims: str | None = None
    is_blob_body: bool = False
    # Bytes per second of the body's transfer (`4.0 MiB/s`); "" when the source did not time it.
    throughput: str = ""

    @property
    def request_line(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True)
class SummaryRow:
    key: str
    label: str
    value: str


@dataclass
class FindingRow:
    rule: str
    severity: str
    severity_label: str
    title: str
    cause: str
    fix: str
    steps: list[LinkRow]


@dataclass
class SessionView:
    number: int
    anchor: str
    id: str
    title: str
    client: str
    registry: str
    user_agent: str
    summary: list[SummaryRow]
    steps: list[StepRow]
    findings: list[FindingRow]
    total_ms: float
    # Why slow: each downloaded blob's host, cache and time (pulltrace.render.speed).
    deliveries: list[DeliveryRow] = field(default_factory=list)


@dataclass
class TraceView:
    lang: str
    source: str
    created: str
    tool_version: str
    notes: list[str]
    sessions: list[SessionView]


def status_text(ex: Exchange) -> str:
    """'401 Unauthorized'; the reason phrase from the wire, else the standard one."""
    if ex.status is None:
        return ex.error or ""
    reason = ex.reason
    if not reason:
        try:
            reason = http.HTTPStatus(ex.status).phrase
        except ValueError:
            reason = ""
    return f"{ex.status} {reason}".strip()


def is_key_header(name: str) -> bool:
    lname = name.lower()
    return lname in KEY_RESPONSE_HEADERS or lname.startswith(KEY_HEADER_PREFIXES)


def _masked(ex: Exchange) -> Exchange:
    """Mask again at the view: a source that forgot to mask must not leak through a
    report. Exchanges the user asked to keep unmasked (secrets_masked=False) are
    shown as recorded."""
    if not ex.secrets_masked:
        return ex
    return redact.mask_exchange(ex)


def _lane(step: Step, registry_host: str) -> str:
    """The sequence-diagram lane: a role plus a host, derived from the kind and
    the host, never from a list of known hostnames."""
    host = fmt.host_of(step.exchange.url)
    # `docker login` to a Basic-auth registry (htpasswd, basic.pulltrace.test) is a GET of
    # the registry's own /v2/ with credentials: no auth service is involved.
    basic_login = host == registry_host and fmt.path_of(step.exchange.url).partition("?")[0] == "/v2/"
    if step.kind in AUTH_KINDS and not basic_login:
        return f"auth|{host}"
    if step.kind is StepKind.CDN_DOWNLOAD:
        return f"cdn|{host}"
    if step.kind in (StepKind.OTHER, StepKind.ERROR) and host != registry_host:
        return f"other|{host}"
    return f"registry|{host}"


def _registry_host(session: Session) -> str:
    # The summary names the registry; else the host of the first /v2/ request.
    for step in session.steps:
        if step.kind not in AUTH_KINDS and step.kind is not StepKind.CDN_DOWNLOAD:
            if "/v2/" in step.exchange.url or step.kind is StepKind.PING:
                return fmt.host_of(step.exchange.url)
    return session.summary.registry


def anchor_map(trace: Trace) -> dict[str, tuple[str, int]]:
    """Exchange id -> (HTML anchor, step number) over the whole trace."""
    found: dict[str, tuple[str, int]] = {}
    for s_no, session in enumerate(trace.sessions, 1):
        for n, step in enumerate(session.steps, 1):
            found.setdefault(step.id, (f"s{s_no}-{n}", n))
    return found


def _link_rows(step: Step, anchors: dict[str, tuple[str, int]], t: Translate) -> list[LinkRow]:
    rows = []
    for link in step.links:
        anchor, number = anchors.get(link.target, ("", None))
        rows.append(LinkRow(link.rel, t(f"rel_{link.rel}"), anchor, number, link.note))
    return rows


def step_rows(
    session: Session,
    *,
    lang: str = "en",
    session_number: int = 1,
    anchors: dict[str, tuple[str, int]] | None = None,
) -> list[StepRow]:
    """One row per step, in the session's order, with everything any view shows."""
    t = translator(lang)
    if anchors is None:
        anchors = {step.id: (f"s{session_number}-{n}", n) for n, step in enumerate(session.steps, 1)}
    registry_host = _registry_host(session)
    origin = min((s.exchange.started_at for s in session.steps), default=0.0)
    rows = []
    for n, step in enumerate(session.steps, 1):
        ex = _masked(step.exchange)
        blob = step.kind in (StepKind.LAYER_BLOB, StepKind.CONFIG_BLOB, StepKind.CDN_DOWNLOAD)
        rows.append(
            StepRow(
                number=n,
                anchor=f"s{session_number}-{n}",
                id=step.id,
                kind=str(step.kind),
                kind_label=kind_label(step, t),
                method=ex.method,
                url=ex.url,
                host=fmt.host_of(ex.url),
                path=fmt.path_of(ex.url),
                http_version=ex.http_version,
                status=ex.status,
                status_text=status_text(ex),
                key_request_headers=[
                    (k, v) for k, v in ex.request_headers if k.lower() in KEY_REQUEST_HEADERS
                ],
                key_response_headers=[(k, v) for k, v in ex.response_headers if is_key_header(k)],
                request_headers=list(ex.request_headers),
                response_headers=list(ex.response_headers),
                content_type=ex.content_type or "",
                bytes=ex.response_bytes,
                size=fmt.human_bytes(ex.response_bytes),
                duration_ms=ex.duration_ms,
                time=fmt.human_ms(ex.duration_ms),
                start_ms=max(0.0, (ex.started_at - origin) * 1000.0),
                lane=_lane(step, registry_host),
                links=_link_rows(step, anchors, t),
                request_body=fmt.pretty_body(ex.request_body_preview),
                response_body=fmt.pretty_body(ex.response_body_preview),
                body_sha256=ex.body_sha256,
                error=ex.error,
                # The facts by the names a trace gives them.
                info=[(k, _info_value(v)) for k, v in sorted(facts_to_dict(step.facts).items())],
                phases=_phases(ex),
                # Decoded before the token was masked: what the token service granted.
                token_claims=json.dumps(ex.token_claims, indent=2, sort_keys=True, ensure_ascii=False)
                if ex.token_claims
                else None,
                # A blob's body is never recorded; a 2xx blob says so instead of "empty".
                is_blob_body=blob and ex.status is not None and 200 <= ex.status < 300,
                throughput=rate(throughput(ex)),
            )
        )
    return rows


_LAYER_ROLE = re.compile(r"^layer (\d+)/(\d+)$")


def kind_label(step: Step, t: Translate) -> str:
    """The kind column, naming the blob as the registry blogs do: `config blob`, `layer blob 2/3`,
    `redirect: layer 2/3`, `CDN: config`."""
    base = t(f"kind_{step.kind}")
    role = step.role or ""
    layer = _LAYER_ROLE.match(role)
    if step.kind is StepKind.LAYER_BLOB and layer:
        return t("kind_layer_n", n=layer.group(1), total=layer.group(2))
    if step.kind in (StepKind.BLOB_REDIRECT, StepKind.CDN_DOWNLOAD) and role:
        what = t("role_layer_n", n=layer.group(1), total=layer.group(2)) if layer else t(f"role_{role}")
        # Short enough for the 80-column terminal table.
        return t("kind_redirect_of" if step.kind is StepKind.BLOB_REDIRECT else "kind_cdn_of", what=what)
    return base


def _phases(ex: Exchange) -> list[tuple[str, str]]:
    t = ex.timings
    # Connection setup done before the request started is no part of its time (time_split).
    split = time_split(ex)
    named = (("connect", split.connect_ms), ("tls", split.tls_ms), ("send", t.send_ms), ("wait", t.wait_ms),
             ("receive", t.receive_ms), ("connect, before the request", split.early_connect_ms),
             ("tls, before the request", split.early_tls_ms))
    return [(name, f"{ms:.1f} ms") for name, ms in named if ms is not None]


def _info_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def summary_rows(session: Session, *, lang: str = "en", steps: list[StepRow] | None = None) -> list[SummaryRow]:
    """The summary card as label/value rows; optional facts only when present.
    A login has no image and fetches nothing: it shows who logged in where, how,
    and whether the registry accepted it, instead of empty pull rows."""
    t = translator(lang)
    s = session.summary
    rows: list[SummaryRow] = []

    def add(key: str, value: str, always: bool = False) -> None:
        if value or always:
            rows.append(SummaryRow(key, t(key), value or t("none")))

    if session.action == "login":
        add("registry", s.registry or _registry_host(session), True)
        add("client", session.client)
        add("user", _login_user(session))
        add("auth", s.auth, True)
        add("token_service", _token_service(session))
        add("result", _login_result(session, t), True)
        add("duration", fmt.human_ms(s.duration_ms) or "0 ms", True)
        add("errors", "; ".join(s.errors))
        add("findings", _findings_count(session.findings, t), True)
        return rows
    pull = session.action == "pull"
    add("image", s.image, pull)
    add("registry", s.registry, True)
    add("client", session.client)
    add("platform", s.platform or "")
    add("manifest_digest", s.manifest_digest or "")
    add("auth", s.auth, True)
    add("scopes_requested", ", ".join(s.scopes_requested))
    add("scopes", ", ".join(_granted_scope(scope, t) for scope in s.scopes_granted))
    if pull or s.layers:
        add("layers", t("layers_fetched", fetched=s.layers_fetched, total=s.layers), True)
    if pull or s.bytes:
        add("bytes", f"{fmt.human_bytes(s.bytes)} ({s.bytes:,})" if s.bytes else "0 B", True)
    add("duration", fmt.human_ms(s.duration_ms) or "0 ms", True)
    add("skipped", ", ".join(_blob_name(d, session, t) for d in s.skipped_blobs))
    add("mirror", s.mirror or "")
    add("fallback", s.fallback or "")
    add("errors", "; ".join(s.errors))
    add("findings", _findings_count(session.findings, t), True)
    return rows


def _login_steps(session: Session) -> list[tuple[int, Step]]:
    return [(n, step) for n, step in enumerate(session.steps, 1) if step.kind is StepKind.LOGIN]


def _login_user(session: Session) -> str:
    """The account a login named: Harbor's and distribution's token request carries it
    (`?account=admin`), the token's `sub` claim confirms it. A Basic login to the
    registry itself (htpasswd) shows it only inside the masked credentials."""
    for _, step in reversed(_login_steps(session)):
        claims = step.exchange.token_claims or {}
        user = step.facts.account or claims.get("sub")
        if user:
            return str(user)
    return str(session.summary.token_claims.get("sub") or "")


def _token_service(session: Session) -> str:
    # Only when the credentials went to a token service (Harbor's /service/token,
    # Docker Hub's auth.docker.io), not to the registry's own /v2/.
    for _, step in _login_steps(session):
        realm = step.facts.realm
        if realm:
            return realm
        path = fmt.path_of(step.exchange.url).partition("?")[0]
        if path != "/v2/":
            return step.exchange.url.partition("?")[0]
    return ""


def _login_result(session: Session, t: Translate) -> str:
    """What the registry said to the last credentials the client sent."""
    logins = _login_steps(session)
    if not logins:
        return t("login_no_credentials")
    n, step = logins[-1]
    status = step.exchange.status
    key = "login_ok" if status is not None and 200 <= status < 300 else "login_failed"
    return t(key, status=status_text(step.exchange) or t("error"), step=n)


def _manifests(session: Session) -> list[ParsedManifest]:
    found = []
    for step in session.steps:
        body = step.exchange.response_body_preview
        if step.kind is StepKind.MANIFEST and body:
            try:
                found.append(parse_manifest(body, step.exchange.content_type))
            except ManifestError:
                continue  # a cut-off preview: the digest alone will do
    return found


def _blob_name(digest: str, session: Session, t: Translate) -> str:
    """`layer 1/2 sha256:9d2f0c1e8a4b… (2.7 MiB)`: which blob of the session's manifest
    the client already had, not a bare digest to look up by hand."""
    short = fmt.short_digest(digest)
    for manifest in _manifests(session):
        for i, layer in enumerate(manifest.layers, 1):
            if layer.digest == digest:
                name = t("layer_of", n=i, total=len(manifest.layers))
                return f"{name} {short} ({fmt.human_bytes(layer.size)})"
        if manifest.config and manifest.config.digest == digest:
            return f"{t('config')} {short} ({fmt.human_bytes(manifest.config.size)})"
    return short


def _granted_scope(scope: str, t: Translate) -> str:
    """`repository:private/secret:` is a token that grants nothing (`"actions": []`, the way
    Docker Hub and distribution refuse a scope): say so instead of leaving a dangling colon."""
    if scope.endswith(":"):
        return f"{scope[:-1]} ({t('no_actions')})"
    return scope


def _findings_count(findings: list[Finding], t: Translate) -> str:
    if not findings:
        return t("no_findings")
    counts: dict[str, int] = {}
    for f in findings:
        counts[str(f.severity)] = counts.get(str(f.severity), 0) + 1
    return ", ".join(t(f"count_{sev}_one") if n == 1 and sev != "info" else t(f"count_{sev}", n=n)
                     for sev, n in sorted(counts.items()))


def finding_rows(session: Session, anchors: dict[str, tuple[str, int]], *, lang: str = "en") -> list[FindingRow]:
    t = translator(lang)
    rows = []
    for f in session.findings:
        links = []
        for target in f.steps:
            anchor, number = anchors.get(target, ("", None))
            links.append(LinkRow("step", t("step"), anchor, number))
        rows.append(
            FindingRow(f.rule, str(f.severity), t(f"severity_{f.severity}"), f.title, f.cause, f.fix, links)
        )
    return rows


def _user_agent(session: Session) -> str:
    """The client's whole User-Agent (docker's names go, git commit, kernel, OS), for
    the tooltip behind the short name a diagram lane has room for."""
    for step in session.steps:
        ua = step.exchange.request_header("user-agent")
        if ua:
            return ua
    return ""


def _session_title(session: Session, number: int) -> str:
    # A login or a ping-only session has no image: name it by what it did, where.
    if session.summary.image:
        return session.summary.image
    registry = session.summary.registry or _registry_host(session)
    if registry:
        return f"{session.action} {registry}"
    return session.id or f"session {number}"


def trace_view(trace: Trace, *, lang: str = "en") -> TraceView:
    """Everything a report shows, in order, with anchors resolved across sessions."""
    translator(lang)  # fail early on an unknown language
    anchors = anchor_map(trace)
    sessions = []
    for s_no, session in enumerate(trace.sessions, 1):
        steps = step_rows(session, lang=lang, session_number=s_no, anchors=anchors)
        total = max((r.start_ms + (r.duration_ms or 0.0) for r in steps), default=0.0)
        sessions.append(
            SessionView(
                number=s_no,
                anchor=f"s{s_no}",
                id=session.id,
                title=_session_title(session, s_no),
                client=session.client,
                registry=session.summary.registry or _registry_host(session),
                user_agent=_user_agent(session),
                summary=summary_rows(session, lang=lang, steps=steps),
                steps=steps,
                findings=finding_rows(session, anchors, lang=lang),
                total_ms=total,
                deliveries=delivery_rows(session, anchors, lang=lang),
            )
        )
    return TraceView(
        lang=lang,
        source=trace.source,
        created=_utc(trace.created_at),
        tool_version=trace.tool_version,
        notes=list(trace.notes),
        sessions=sessions,
    )


def _utc(ts: float) -> str:
    # The capture time recorded in the trace, never "now": reports must be reproducible.
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
