"""Steps -> Sessions: which steps make up one pull (or one login), and its summary.

A session is one client pulling one repository from one registry. Clients run in
parallel and interleave, so steps are grouped by who sent them (address and
User-Agent), the registry and the repository their path or token scope names.
Steps that name no repository join through the protocol: a CDN download joins the
redirect it follows, a retried request the challenge it retries, a ping the first
session (or login) its client opens next on that registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pulltrace.classify import BLOB_KINDS, client_key, is_digest, parsed_manifest
from pulltrace.model import Session, SessionSummary, Step, StepKind

# A client that says nothing to a registry for this long has finished its pull; the
# next request for the same repository is a new pull.
IDLE_GAP_S = 30.0

AUTH_NONE = "none"
AUTH_ANONYMOUS = "anonymous-bearer"
AUTH_CREDENTIALS = "bearer-credentials"
AUTH_BASIC = "basic"

_FETCH_KINDS = BLOB_KINDS | {StepKind.CDN_DOWNLOAD}


@dataclass
class _Open:
    session: Session
    client: str
    registry: str
    repository: str | None
    last: float
    registries: list[str] = field(default_factory=list)

    @property
    def has_blobs(self) -> bool:
        return any(s.kind in _FETCH_KINDS or s.kind is StepKind.BLOB_REDIRECT for s in self.session.steps)

    @property
    def failed(self) -> bool:
        return any(s.kind is StepKind.ERROR for s in self.session.steps)


def _end(step: Step) -> float:
    ex = step.exchange
    return ex.started_at + (ex.duration_ms or 0.0) / 1000.0


def _registry(step: Step) -> str:
    return step.info.get("registry") or urlsplit(step.exchange.url).netloc.lower()


def _client_label(step: Step) -> str:
    ex = step.exchange
    ua = (ex.request_header("user-agent") or "").split(" ")[0]
    host = client_key(ex).split(" ")[0]
    # The built-in client records its own name where a proxy would see an address.
    return f"{ua} ({host})" if ua and host and host != ua else ua or host


class _Grouper:
    def __init__(self) -> None:
        self.open: list[_Open] = []
        self.of_step: dict[str, _Open] = {}
        self.pending: dict[tuple[str, str], list[Step]] = {}
        self.count = 0

    def _new(self, step: Step, registry: str, repository: str | None, action: str) -> _Open:
        self.count += 1
        session = Session(id=f"s{self.count}", action=action, client=_client_label(step))
        o = _Open(session, client_key(step.exchange), registry, repository, step.exchange.started_at, [registry])
        self.open.append(o)
        return o

    def _add(self, o: _Open, step: Step) -> None:
        o.session.steps.append(step)
        o.last = max(o.last, _end(step))
        self.of_step[step.id] = o
        reg = _registry(step)
        if step.kind not in (StepKind.CDN_DOWNLOAD, StepKind.TOKEN, StepKind.LOGIN) and reg not in o.registries:
            if step.exchange.url and "/v2" in urlsplit(step.exchange.url).path:
                o.registries.append(reg)

    def _flush(self, o: _Open, client: str, registry: str) -> None:
        for step in self.pending.pop((client, registry), []):
            self._add(o, step)

    def _find(self, client: str, registry: str, repository: str | None, action: str, now: float) -> _Open | None:
        for o in reversed(self.open):
            if o.client == client and o.registry == registry and o.repository == repository \
                    and o.session.action == action and now - o.last <= IDLE_GAP_S:
                return o
        return None

    def _by_repository(self, client: str, repository: str, now: float) -> _Open | None:
        for o in reversed(self.open):
            if o.client == client and o.repository == repository and o.session.action == "pull" \
                    and now - o.last <= IDLE_GAP_S:
                return o
        return None

    def _fallback_of(self, client: str, repository: str, now: float) -> _Open | None:
        """An open pull of the same repository by the same client on another registry
        that failed: this request is the client falling back (dockerd leaves a broken
        registry mirror for the upstream)."""
        for o in reversed(self.open):
            if o.client == client and o.repository == repository and o.session.action == "pull" \
                    and now - o.last <= IDLE_GAP_S and o.failed and not o.has_blobs:
                return o
        return None

    def add(self, step: Step) -> None:
        ex = step.exchange
        client = client_key(ex)
        now = ex.started_at
        # Steps that join through a link: CDN downloads, retries.
        for rel in ("follows", "retries"):
            for target in step.linked(rel):
                if target in self.of_step:
                    self._add(self.of_step[target], step)
                    return
        registry = _registry(step)
        kind = step.kind
        intended = step.info.get("intended")
        if kind is StepKind.LOGIN or intended == "login":
            o = self._find(client, registry, None, "login", now) or self._new(step, registry, None, "login")
            self._flush(o, client, registry)
            self._add(o, step)
            return
        if kind is StepKind.TOKEN and step.repository and not step.linked("answers"):
            # A token request nobody's challenge named: it belongs to whichever pull of
            # its scope's repository this client has open, or opens next.
            o = self._by_repository(client, step.repository, now)
            if o is not None:
                self._add(o, step)
            else:
                self.pending.setdefault((client, f"token:{step.repository}"), []).append(step)
            return
        if step.repository:
            o = self._pull_session(step, client, registry, now)
            self._flush(o, client, f"token:{step.repository}")
            self._flush(o, client, registry)
            self._add(o, step)
            return
        if step.linked("answers"):
            # A token without a scope that answered a challenge inside a session.
            target = step.linked("answers")[0]
            if target in self.of_step:
                self._add(self.of_step[target], step)
                return
        self.pending.setdefault((client, registry), []).append(step)

    def _pull_session(self, step: Step, client: str, registry: str, now: float) -> _Open:
        repository = step.repository
        o = self._find(client, registry, repository, "pull", now)
        if o is not None and self._starts_new_pull(step, o):
            o = None
        if o is None:
            fallback = self._fallback_of(client, repository or "", now)
            if fallback is not None and fallback.registry != registry:
                if registry not in fallback.registries:
                    fallback.registries.append(registry)
                return fallback
            o = self._new(step, registry, repository, "pull")
        return o

    @staticmethod
    def _starts_new_pull(step: Step, o: _Open) -> bool:
        """A manifest asked for by tag after this session already fetched blobs."""
        if step.kind not in (StepKind.MANIFEST, StepKind.MANIFEST_HEAD, StepKind.MANIFEST_INDEX):
            return False
        if is_digest(step.reference):
            return False
        return any(s.kind in _FETCH_KINDS for s in o.session.steps)

    def finish(self) -> list[Session]:
        # Steps nobody claimed: join the nearest session of the same client and
        # registry, else stand alone (a browser on Harbor's UI API, a bare ping).
        for (client, registry), steps in self.pending.items():
            for step in steps:
                near = [o for o in self.open if o.client == client and o.registry == registry
                        and abs(o.last - step.exchange.started_at) <= IDLE_GAP_S]
                if near:
                    self._add(near[-1], step)
                    continue
                o = self._find(client, registry, None, "other", step.exchange.started_at)
                if o is None:
                    o = self._new(step, registry, None, "other")
                self._add(o, step)
        sessions = []
        for o in sorted(self.open, key=lambda o: min(s.exchange.started_at for s in o.session.steps)):
            o.session.steps.sort(key=lambda s: s.exchange.started_at)
            for n, s in enumerate(o.session.steps, start=1):
                s.index = n
            sessions.append(o.session)
        for n, session in enumerate(sessions, start=1):
            session.id = f"s{n}"
        for o in self.open:
            o.session.summary = summarize(o.session, o.registries)
        return sessions


def group_sessions(steps: list[Step]) -> list[Session]:
    """Group classified steps (in time order) into sessions with summaries."""
    g = _Grouper()
    for step in sorted(steps, key=lambda s: s.exchange.started_at):
        g.add(step)
    return g.finish()


# -- summaries -------------------------------------------------------------------------


def image_manifest_step(session: Session) -> Step | None:
    """The image manifest (not an index) this session pulled, if its body was seen."""
    found = None
    for step in session.steps:
        if step.kind is StepKind.MANIFEST and parsed_manifest(step.exchange) is not None:
            found = step
    return found


def expected_blobs(session: Session) -> list[str]:
    step = image_manifest_step(session)
    if step is None:
        return []
    parsed = parsed_manifest(step.exchange)
    if parsed is None:
        return []
    out = [parsed.config.digest] if parsed.config else []
    return out + [layer.digest for layer in parsed.layers]


def fetched_blobs(session: Session) -> set[str]:
    """Blobs the client received (a 2xx body, directly or from the CDN)."""
    out = set()
    for step in session.steps:
        status = step.exchange.status or 0
        if step.kind in _FETCH_KINDS and 200 <= status < 300:
            digest = step.info.get("digest") or step.reference
            if digest:
                out.add(digest)
    return out


def requested_blobs(session: Session) -> set[str]:
    out = set()
    for step in session.steps:
        digest = step.info.get("digest")
        if digest and (step.kind in _FETCH_KINDS or step.kind is StepKind.BLOB_REDIRECT
                       or step.info.get("intended") in ("config-blob", "layer-blob", "blob-redirect",
                                                          "cdn-download")):
            out.add(digest)
    return out


def is_complete(session: Session) -> bool:
    """Every blob of the image manifest has arrived (used to print a pull as it ends)."""
    expected = expected_blobs(session)
    return bool(expected) and set(expected) <= fetched_blobs(session)


def summarize(session: Session, registries: list[str] | None = None) -> SessionSummary:
    steps = session.steps
    summary = SessionSummary()
    if not steps:
        return summary
    registries = registries or [_registry(steps[0])]
    registry = registries[0]
    ns = next((s.info["ns"] for s in steps if s.info.get("ns")), None)
    if ns:
        summary.mirror, summary.registry = registry, ns
    elif len(registries) > 1:
        summary.mirror, summary.fallback, summary.registry = registries[0], registries[-1], registries[-1]
    else:
        summary.registry = registry
    start = min(s.exchange.started_at for s in steps)
    summary.duration_ms = round((max(_end(s) for s in steps) - start) * 1000.0, 3)
    if session.action == "pull":
        summary.image = _image(session, summary.registry)
    platform = next((s.info["platform"] for s in steps if s.info.get("platform")), None)
    summary.platform = platform
    manifest = image_manifest_step(session)
    if manifest is not None:
        summary.manifest_digest = manifest.info.get("digest")
        parsed = parsed_manifest(manifest.exchange)
        summary.layers = len(parsed.layers) if parsed else 0
    _auth(summary, steps)
    fetched = fetched_blobs(session)
    layer_digests = set()
    for step in steps:
        status = step.exchange.status or 0
        if step.kind in _FETCH_KINDS and 200 <= status < 300:
            summary.bytes += step.exchange.response_bytes or 0
            if (step.role or "").startswith("layer"):
                layer_digests.add(step.info.get("digest") or step.reference)
    summary.layers_fetched = len(layer_digests)
    requested = requested_blobs(session)
    # A blob never asked for was skipped (the client had it) only if every blob that was
    # asked for arrived: a pull that failed on its config (a redirect loop) never reached
    # its layers, and they were not "already present".
    if requested <= fetched:
        summary.skipped_blobs = [d for d in expected_blobs(session) if d not in fetched and d not in requested]
    summary.errors = [_error_text(s) for s in steps if s.kind is StepKind.ERROR]
    return summary


def _image(session: Session, registry: str) -> str:
    repo, tag, digest = None, None, None
    for step in session.steps:
        if step.kind in (StepKind.MANIFEST, StepKind.MANIFEST_HEAD, StepKind.MANIFEST_INDEX) or (
            step.kind is StepKind.ERROR and step.info.get("intended", "").startswith("manifest")
        ):
            repo = repo or step.repository
            if step.reference and not is_digest(step.reference):
                tag = tag or step.reference
            elif step.reference and digest is None and tag is None:
                digest = step.reference
    repo = repo or next((s.repository for s in session.steps if s.repository), "")
    text = f"{registry}/{repo}" if repo else registry
    if tag:
        return f"{text}:{tag}"
    if digest:
        return f"{text}@{digest}"
    return text


def _auth(summary: SessionSummary, steps: list[Step]) -> None:
    tokens = [s for s in steps if s.kind in (StepKind.TOKEN, StepKind.LOGIN) and "realm" in s.info]
    if tokens:
        with_credentials = any(t.info.get("credentials", "anonymous") != "anonymous" for t in tokens)
        summary.auth = AUTH_CREDENTIALS if with_credentials else AUTH_ANONYMOUS
    elif any((s.exchange.request_header("authorization") or "").lower().startswith("basic") for s in steps):
        summary.auth = AUTH_BASIC
    else:
        summary.auth = AUTH_NONE
    for token in tokens:
        for scope in token.info.get("scopes", []):
            if scope not in summary.scopes_requested:
                summary.scopes_requested.append(scope)
        claims = token.info.get("claims") or token.exchange.token_claims
        if claims:
            summary.token_claims = claims
            for entry in claims.get("access") or []:
                if not isinstance(entry, dict):
                    continue
                # `"actions": []` is how a token service says "not allowed" (Docker Hub,
                # distribution): keep the scope visible with no actions.
                granted = f"{entry.get('type', '')}:{entry.get('name', '')}:{','.join(entry.get('actions') or [])}"
                if granted not in summary.scopes_granted:
                    summary.scopes_granted.append(granted)


def _error_text(step: Step) -> str:
    ex = step.exchange
    path = urlsplit(ex.url).path
    if ex.status is None:
        return f"{ex.method} {path}: {ex.error or 'no response'}"
    text = f"{ex.status} {ex.method} {path}"
    body = ex.response_body_preview
    if body and body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"]:
            first = data["errors"][0]
            if isinstance(first, dict) and first.get("code"):
                text += f": {first['code']}"
    return text
