"""Steps -> Sessions: which steps make up one pull (or one login), grouped by protocol causality.

A pull is opened by its manifest request (by tag or by digest). What that request causes
joins it through the protocol's own links, whatever the User-Agent says:

- the ping and the token before it: the token answers the ping's (or the manifest's)
  challenge, and the manifest request retries it with that token;
- every request that presents a token the pull was issued: the token is the protocol's own
  link, and its print (taken before masking, `pulltrace.redact.prints`) tells apart two
  identical programs on one host pulling one repository at once; without prints (a trace
  read back, a log) address, User-Agent, scope and order decide;
- the manifests it leads to: a digest its tag resolved to (HEAD, then GET by digest), a
  platform manifest its index lists;
- the blobs its manifest lists, by digest; the redirects they get and the CDN downloads
  that follow them, by Location;
- a fallback: the same reference asked of another registry after the first (a mirror)
  failed and before any blob arrived.

A tag asked again after the pull resolved it opens a new pull: one image pulled again and
again by the same client is one pull each time. Every lookup goes through an index keyed by
client address, registry, repository or digest, and a closed pull leaves those indexes, so
the cost per step does not grow with the capture.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pulltrace.classify import (
    BLOB_KINDS,
    MANIFEST_KINDS,
    REDIRECT_STATUSES,
    TOKEN_KINDS,
    auth_scheme,
    challenges_of,
    client_host,
    error_text,
    is_digest,
    kind_of,
    parsed_manifest,
    prints_of,
)
from pulltrace.model import Session, SessionSummary, Step, StepKind
from pulltrace.v2path import netloc

# A client that says nothing for this long has finished its pull; what is still open is closed.
IDLE_GAP_S = 30.0
# A pull whose every blob arrived is closed after this much quiet (a client may still ask
# for a signature or a referrer after its last layer).
COMPLETE_GRACE_S = 2.0

AUTH_NONE = "none"
AUTH_ANONYMOUS = "anonymous-bearer"
AUTH_CREDENTIALS = "bearer-credentials"
AUTH_BASIC = "basic"
# A bearer token presented with no token exchange in the capture: the client fetched it
# before the capture began (or from a credential helper).
AUTH_EARLIER_TOKEN = "bearer (token obtained before the capture)"

_LINK_ORDER = {rel: n for n, rel in enumerate(
    ("follows", "redirects-to", "answers", "retried-by", "retries", "chosen-from", "chooses", "blob-of"))}

_FETCH_KINDS = BLOB_KINDS | {StepKind.CDN_DOWNLOAD}
_BLOB_LIKE = _FETCH_KINDS | {StepKind.BLOB_REDIRECT}


def _end(step: Step) -> float:
    ex = step.exchange
    return ex.started_at + (ex.duration_ms or 0.0) / 1000.0


def _registry(step: Step) -> str:
    return step.facts.registry or netloc(step.exchange.url)


def _agent(step: Step) -> str:
    return step.exchange.request_header("user-agent") or ""


def _client_label(step: Step) -> str:
    ex = step.exchange
    ua = _agent(step).split(" ")[0]
    host = client_host(ex)
    # The built-in client records its own name where a proxy would see an address.
    return f"{ua} ({host})" if ua and host and host != ua else ua or host


def _ok(step: Step) -> bool:
    status = step.exchange.status
    return status is not None and 200 <= status < 300


def _first_contact(step: Step) -> bool:
    """A request sent without credentials and answered with a Bearer challenge: how a pull
    that did not ping begins."""
    ex = step.exchange
    return ex.status == 401 and auth_scheme(ex) is None and any(c.is_bearer for c in challenges_of(ex))


def _own_first(chains: list[_Chain], step: Step) -> list[_Chain]:
    """Waiting chains, those the step's own program sent first, each group oldest first: two
    programs on one host that ping one registry at once each keep their own ping."""
    agent = _agent(step)
    return sorted(chains, key=lambda chain: _agent(chain.steps[0]) != agent)


@dataclass(eq=False)
class Pull:
    """An open session and what the grouping needs to know about it."""

    session: Session
    seq: int
    client: str
    registry: str
    repository: str | None
    last: float
    agents: set[str] = field(default_factory=set)
    registries: list[str] = field(default_factory=list)
    expected: set[str] = field(default_factory=set)  # blob digests its manifests list
    fetched: set[str] = field(default_factory=set)
    requested: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)  # manifest digests it resolved or may choose
    manifests_got: set[str] = field(default_factory=set)
    manifest_of: dict[str, str] = field(default_factory=dict)  # blob digest -> its manifest step
    tags: dict[str, str] = field(default_factory=dict)  # tag -> "head" | "got" | "failed"
    # Prints of the tokens it was issued and the credentials its manifests presented: the
    # requests that present one of them are its own (pulltrace.redact.prints).
    prints: set[str] = field(default_factory=set)
    last_manifest: Step | None = None
    blobs_asked: bool = False
    manifest_ok: bool = False
    manifest_failed: bool = False
    keys: list[tuple[dict[tuple[str, ...], list[Pull]], tuple[str, ...]]] = field(default_factory=list)
    closed: bool = False

    @property
    def complete(self) -> bool:
        return bool(self.expected) and self.expected <= self.fetched


@dataclass(eq=False)
class _Chain:
    """Steps before a pull: a ping, the token that answered its challenge, a refused connection."""

    key: tuple[str, str]
    steps: list[Step]
    last: float
    is_ping: bool
    repository: str | None = None
    closed: bool = False


class Grouper:
    """Attaches classified steps to pulls as they arrive and hands out closed sessions."""

    def __init__(self, *, idle_s: float = IDLE_GAP_S) -> None:
        self.idle_s = idle_s
        self.grace_s = min(COMPLETE_GRACE_S, idle_s)
        self.seq = 0
        self.open: dict[int, Pull] = {}
        self.of_step: dict[str, Pull] = {}
        self.chain_of: dict[str, _Chain] = {}
        self.pings: set[str] = set()  # ids of open ping steps
        self.by_place: dict[tuple[str, ...], list[Pull]] = {}  # (client, registry, repository)
        self.by_repo: dict[tuple[str, ...], list[Pull]] = {}  # (client, repository)
        self.by_digest: dict[tuple[str, ...], list[Pull]] = {}  # (client, digest)
        self.by_host: dict[tuple[str, ...], list[Pull]] = {}  # (client, registry)
        self.chains: dict[tuple[str, str], list[_Chain]] = {}  # (client, registry)
        self.scoped: dict[tuple[str, str], list[_Chain]] = {}  # (client, repository)
        self.heap: list[tuple[float, int, int, object]] = []
        self._tick = 0
        self.answered: dict[str, list[Step]] = {}  # challenge step id -> tokens answering it
        self._lent: dict[tuple[str, str], list[tuple[Pull, list[Step]]]] = {}  # (client, registry)

    # -- indexes ---------------------------------------------------------------------
    def _index(self, pull: Pull, index: dict[tuple[str, ...], list[Pull]], key: tuple[str, ...]) -> None:
        bucket = index.setdefault(key, [])
        if pull not in bucket[-3:]:
            bucket.append(pull)
            pull.keys.append((index, key))

    def _schedule(self, deadline: float, item: Pull | _Chain) -> None:
        self._tick += 1
        heapq.heappush(self.heap, (deadline, self._tick, id(item), item))

    # -- opening and joining -----------------------------------------------------------
    def _new(self, step: Step, registry: str, repository: str | None, action: str) -> Pull:
        self.seq += 1
        session = Session(id=f"s{self.seq}", action=action, client=_client_label(step))
        pull = Pull(session, self.seq, client_host(step.exchange), registry, repository, _end(step),
                    registries=[registry])
        self.open[pull.seq] = pull
        self._index(pull, self.by_host, (pull.client, registry))
        if repository:
            self._index(pull, self.by_place, (pull.client, registry, repository))
            self._index(pull, self.by_repo, (pull.client, repository))
        self._schedule(pull.last + self.idle_s, pull)
        return pull

    def _join(self, pull: Pull, step: Step) -> None:
        pull.session.steps.append(step)
        pull.last = max(pull.last, _end(step))
        pull.agents.add(_agent(step))
        self.of_step[step.id] = pull
        kind = kind_of(step)
        self._hold_prints(pull, step, kind)
        digest = step.facts.digest or (step.reference if is_digest(step.reference) else None)
        if kind in MANIFEST_KINDS:
            self._manifest_facts(pull, step, kind, digest)
        elif kind in _BLOB_LIKE and digest:
            pull.blobs_asked = True
            pull.requested.add(digest)
            own = pull.manifest_of.get(digest)
            if own is not None:
                # Two pulls of one image list the same blobs: this blob is its own pull's.
                for link in step.links:
                    if link.rel == "blob-of":
                        link.target = own
            if kind in _FETCH_KINDS and _ok(step):
                pull.fetched.add(digest)
                if pull.complete:
                    self._schedule(pull.last + self.grace_s, pull)

    def _hold_prints(self, pull: Pull, step: Step, kind: StepKind) -> None:
        """A token it was issued, a credential its manifest request presented: later requests
        that present the same one are this pull's."""
        if kind in TOKEN_KINDS:
            held = prints_of(step.exchange).issued if _ok(step) else frozenset()
        elif kind in MANIFEST_KINDS:
            presented = prints_of(step.exchange).presented
            held = frozenset((presented,)) if presented is not None else frozenset()
        else:
            return
        pull.prints.update(held)

    @staticmethod
    def _release(pull: Pull, step: Step) -> None:
        """A step leaves the pull it joined first (it was another pull's); a token that moves
        takes the print of what it issued along (only pings and tokens ever move)."""
        pull.session.steps[:] = [s for s in pull.session.steps if s is not step]
        if kind_of(step) in TOKEN_KINDS:
            pull.prints.difference_update(prints_of(step.exchange).issued)

    def _manifest_facts(self, pull: Pull, step: Step, kind: StepKind, digest: str | None) -> None:
        if step.exchange.status in REDIRECT_STATUSES:
            # Sent on to another registry (registry.k8s.io → its backing registry): neither got
            # nor failed; the hop that answers says. (A tag marked failed would take in another
            # client's request for it as this pull's retry.)
            return
        ok = _ok(step)
        ref = step.reference
        pull.last_manifest = step
        if ok:
            pull.manifest_ok = True
        elif not (step.exchange.status == 401 and auth_scheme(step.exchange) is None):
            pull.manifest_failed = True
        if ref and not is_digest(ref):
            if ok:
                pull.tags[ref] = "head" if kind is StepKind.MANIFEST_HEAD else "got"
            else:
                pull.tags.setdefault(ref, "failed")
        if digest and ok:
            self._know(pull, digest)
            if kind is not StepKind.MANIFEST_HEAD:
                pull.manifests_got.add(digest)
        parsed = parsed_manifest(step.exchange) if ok and kind is not StepKind.MANIFEST_HEAD else None
        if parsed is None:
            return
        if parsed.is_index:
            for descriptor in parsed.manifests:
                self._know(pull, descriptor.digest)
        else:
            blobs = ([parsed.config.digest] if parsed.config else []) + [layer.digest for layer in parsed.layers]
            for blob in blobs:
                pull.expected.add(blob)
                pull.manifest_of[blob] = step.id
                self._index(pull, self.by_digest, (pull.client, blob))

    def _know(self, pull: Pull, digest: str) -> None:
        if digest not in pull.known:
            pull.known.add(digest)
            self._index(pull, self.by_digest, (pull.client, digest))

    def _adopt(self, pull: Pull, chain: _Chain) -> None:
        chain.closed = True
        bucket = self.chains.get(chain.key)
        if bucket and chain in bucket:
            bucket.remove(chain)
            if not bucket:
                del self.chains[chain.key]
        if chain.repository:
            scoped = self.scoped.get((chain.key[0], chain.repository))
            if scoped and chain in scoped:
                scoped.remove(chain)
                if not scoped:
                    del self.scoped[(chain.key[0], chain.repository)]
        for step in chain.steps:
            self.chain_of.pop(step.id, None)
            self._join(pull, step)

    def _adopt_preamble(self, pull: Pull, step: Step) -> None:
        """A new pull takes the steps its client sent to this registry before it: the ping
        chain its request retries (else the oldest one), connection failures, and a token
        asked for its repository with no challenge seen."""
        linked = {self.chain_of[t] for t in step.linked("retries") if t in self.chain_of}
        for chain in linked:
            self._adopt(pull, chain)
        took_ping = any(c.is_ping for c in linked)
        if not linked and auth_scheme(step.exchange) == "bearer" and not step.linked("retries"):
            took_ping = self._take_back(pull, step)
        for chain in _own_first(self.chains.get((pull.client, pull.registry), []), step):
            if chain.repository and pull.repository and chain.repository != pull.repository:
                continue
            if chain.is_ping:
                if took_ping:
                    continue
                if _agent(chain.steps[0]) != _agent(step) and auth_scheme(step.exchange) is None:
                    # Another program's ping, and this request is a first contact of its own
                    # (containerd never pings): the ping waits for its own pull, or the nearest.
                    continue
                took_ping = True
            self._adopt(pull, chain)
        if pull.repository:
            for chain in _own_first(self.scoped.get((pull.client, pull.repository), []), step):
                if chain.is_ping:
                    if took_ping:
                        continue
                    took_ping = True
                self._adopt(pull, chain)

    def _pend(self, step: Step, registry: str, *, is_ping: bool, chain: _Chain | None = None) -> None:
        client = client_host(step.exchange)
        if chain is None:
            chain = _Chain((client, registry), [], _end(step), is_ping)
            self.chains.setdefault(chain.key, []).append(chain)
        chain.steps.append(step)
        chain.last = max(chain.last, _end(step))
        self.chain_of[step.id] = chain
        if kind_of(step) is StepKind.PING:
            self.pings.add(step.id)
        if step.repository and chain.repository is None:
            chain.repository = step.repository
            self.scoped.setdefault((client, step.repository), []).append(chain)
        self._schedule(chain.last + self.idle_s, chain)

    def _latest(self, pulls: Iterable[Pull], step: Step) -> Pull | None:
        """The most recent open pull: one that holds the credential the step presented
        first, then one whose client sent this User-Agent."""
        agent = _agent(step)
        presented = prints_of(step.exchange).presented
        best: Pull | None = None
        best_rank: tuple[bool, bool, int] | None = None
        for pull in pulls:
            if pull.closed:
                continue
            rank = (presented in pull.prints, agent in pull.agents, pull.seq)
            if best_rank is None or rank > best_rank:
                best, best_rank = pull, rank
        return best

    # -- one step --------------------------------------------------------------------
    def add(self, step: Step) -> Pull | None:
        """Attach a step; returns its pull (None while it waits for one, like a ping)."""
        if kind_of(step) in TOKEN_KINDS:
            for target in step.linked("answers"):
                self.answered.setdefault(target, []).append(step)
        pull = self._attach(step)
        if pull is not None and step.linked("retries"):
            self._claim_tokens(pull, step)
        return pull

    def _claim_tokens(self, pull: Pull, step: Step) -> None:
        """The token a request was retried with is its pull's: a client that keeps one challenge
        for many pulls (a pull-through mirror asks a token per upstream request) answers it
        again for each, and the token joined whichever pull held the challenge."""
        for challenge in step.linked("retries"):
            for token in self.answered.get(challenge, ()):
                if step.id not in token.linked("retried-by"):
                    continue
                chain = self.chain_of.get(token.id)
                holder = self.of_step.get(token.id)
                if chain is not None and not chain.closed:
                    if kind_of(step) in _BLOB_LIKE:
                        # Lent, not given: another program on this host with the same
                        # User-Agent (two skopeo at once) may have been the one that pinged and
                        # fetched it; its manifest request then takes the chain back.
                        self._lent.setdefault(chain.key, []).append((pull, list(chain.steps)))
                    self._adopt(pull, chain)
                elif holder is not None and holder is not pull and not holder.closed:
                    self._release(holder, token)
                    self._join(pull, token)

    def _take_back(self, pull: Pull, step: Step) -> bool:
        """A pull opened with a token and none seen for it: the ping and token a blob request of
        another pull claimed (the same program name, the same host) were this pull's."""
        for lender, steps in self._lent.pop((pull.client, pull.registry), []):
            if lender.closed or lender is pull:
                continue
            for moved in steps:
                if self.of_step.get(moved.id) is lender:
                    self._release(lender, moved)
                    self._join(pull, moved)
            return True
        return False

    def _attach(self, step: Step) -> Pull | None:
        kind = kind_of(step)
        for rel in ("follows", "retries", "answers"):
            for target in step.linked(rel):
                pull = self.of_step.get(target)
                if rel == "retries" and kind is not StepKind.PING and target in self.pings:
                    continue  # what a ping's challenge is retried by is decided by its own kind
                if pull is not None and not pull.closed:
                    if rel != "follows" and step.repository and (
                            pull.session.action != "pull" or pull.repository not in (None, step.repository)):
                        # A token for a repository answering a login's challenge again (docker's
                        # refresh_token grant), a manifest retried with it: the pull's, not the login's.
                        continue
                    self._join(pull, step)
                    return pull
                chain = self.chain_of.get(target)
                if chain is None:
                    continue
                if kind is StepKind.LOGIN:
                    return self._login(step, client_host(step.exchange), chain.key[1], chain)
                if kind in (StepKind.PING, StepKind.TOKEN, StepKind.CONNECTION, StepKind.OTHER):
                    # The token for a ping's challenge, the ping asked again with it.
                    self._pend(step, chain.key[1], is_ping=chain.is_ping, chain=chain)
                    return None
        client = client_host(step.exchange)
        registry = _registry(step)
        if kind is StepKind.LOGIN:
            return self._login(step, client, registry)
        if kind is StepKind.TOKEN:
            pull = self._latest(self.by_repo.get((client, step.repository or ""), []), step)
            if pull is not None and not pull.manifest_ok:
                self._join(pull, step)
                return pull
            self._pend(step, registry, is_ping=False)
            return None
        if kind in (StepKind.PING, StepKind.CONNECTION):
            self._pend(step, registry, is_ping=kind is StepKind.PING)
            return None
        if kind in MANIFEST_KINDS:
            return self._manifest(step, client, registry)
        if kind in _BLOB_LIKE:
            return self._blob(step, client, registry)
        if step.repository:
            pull = self._latest(self.by_place.get((client, registry, step.repository), []), step)
            if pull is None:
                pull = self._new(step, registry, step.repository, "pull")
                self._adopt_preamble(pull, step)
            else:
                self._adopt_scoped(pull, step)
            self._join(pull, step)
            return pull
        # No repository, no link (a browser on Harbor's UI API): the pull its program has
        # open on this host, else it waits, and stands alone if nothing claims it.
        agent = _agent(step)
        for pull in reversed(self.by_host.get((client, registry), [])):
            if not pull.closed and agent in pull.agents:
                self._join(pull, step)
                return pull
        self._pend(step, registry, is_ping=False)
        return None

    def _login(self, step: Step, client: str, registry: str, chain: _Chain | None = None) -> Pull:
        login = None
        for pull in reversed(self.by_host.get((client, registry), [])):
            if not pull.closed and pull.session.action == "login":
                login = pull
                break
        if login is None:
            login = self._new(step, registry, None, "login")
            for waiting in list(self.chains.get((client, registry), [])):
                self._adopt(login, waiting)
        elif chain is not None and not chain.closed:
            self._adopt(login, chain)
        self._join(login, step)
        return login

    def _manifest(self, step: Step, client: str, registry: str) -> Pull:
        repository = step.repository or ""
        reference = step.reference or ""
        pull: Pull | None = None
        if is_digest(reference):
            candidates = [p for p in self.by_digest.get((client, reference), [])
                          if not p.closed and p.repository == repository]
            # The pull that resolved this digest and has not received it yet: the same image
            # asked for again by the same client (by tag, then by its digest) is a pull of its own.
            pull = self._latest([p for p in candidates if reference not in p.manifests_got], step)
            if pull is None:
                # A HEAD by tag whose answer named no digest (a server log keeps no headers):
                # the GET by digest that follows it is the same pull's, as docker does it; and
                # so is the retry of that GET after a 401 (containerd's fetcher asks for its own token).
                pull = self._latest([p for p in self.by_place.get((client, registry, repository), [])
                                     if not p.blobs_asked and not p.manifests_got and p.last_manifest is not None
                                     and ((p.last_manifest.kind is StepKind.MANIFEST_HEAD
                                           and not p.last_manifest.facts.digest)
                                          or (p.last_manifest.reference == reference
                                              and p.last_manifest.exchange.status == 401))], step)
        else:
            for p in reversed(self.by_place.get((client, registry, repository), [])):
                if p.closed or p.blobs_asked:
                    continue
                state = p.tags.get(reference)
                if state == "failed" and _first_contact(step) and p.last_manifest is not None \
                        and _first_contact(p.last_manifest):
                    # A client retries a challenge with a token, never bare: a second bare
                    # request challenged for the same tag is another program (two `ctr pull`
                    # of one image at once; containerd never pings).
                    continue
                if state == "failed" or (state == "head" and step.exchange.method.upper() == "GET"
                                         and p.last_manifest is not None
                                         and p.last_manifest.reference == reference):
                    pull = p
                    break
            if pull is None:
                pull = self._fallback_of(step, client, registry, repository)
        if pull is None:
            pull = self._new(step, registry, repository, "pull")
            self._adopt_preamble(pull, step)
        self._join(pull, step)
        return pull

    def _fallback_of(self, step: Step, client: str, registry: str, repository: str) -> Pull | None:
        """An open pull of the same repository by the same client on another registry whose
        manifest failed before any blob: this request is the client falling back (dockerd
        leaves a broken registry mirror for the upstream)."""
        for p in reversed(self.by_repo.get((client, repository), [])):
            if p.closed or p.registry == registry or p.blobs_asked or p.manifest_ok or not p.manifest_failed:
                continue
            if p.session.action != "pull":
                continue
            if registry not in p.registries:
                p.registries.append(registry)
                self._index(p, self.by_place, (client, registry, repository))
                self._index(p, self.by_host, (client, registry))
            return p
        return None

    def _blob(self, step: Step, client: str, registry: str) -> Pull:
        digest = step.facts.digest or step.reference or ""
        candidates = [p for p in self.by_digest.get((client, digest), []) if not p.closed and digest in p.expected]
        if candidates:
            # The pull on this registry that still waits for this blob, then any.
            # Two pulls of one image at once: the blob goes to the one that has not asked for
            # it yet, the older first.
            # The token the request presented says whose it is before any of that (two skopeo
            # copies of one image at once, one User-Agent: the order they ask in says nothing).
            presented = prints_of(step.exchange).presented

            def rank(p: Pull) -> tuple[bool, bool, bool, bool, bool, int]:
                return (presented in p.prints, registry in p.registries, digest not in p.requested,
                        digest not in p.fetched, _agent(step) in p.agents, -p.seq)
            pull: Pull | None = max(candidates, key=rank)
        else:
            pull = self._latest(self.by_place.get((client, registry, step.repository or ""), []), step)
        if pull is None:
            pull = self._new(step, registry, step.repository, "pull")
            self._adopt_preamble(pull, step)
        self._join(pull, step)
        return pull

    def _adopt_scoped(self, pull: Pull, step: Step) -> None:
        """An open pull takes a ping and token its client asked again for its repository before
        this request (skopeo inspect pings and fetches a token anew to list the tags): the chains
        the request retries, and those whose token was scoped to the pull's repository."""
        for chain in {self.chain_of[t] for t in step.linked("retries") if t in self.chain_of}:
            self._adopt(pull, chain)
        if pull.repository:
            for chain in list(self.scoped.get((pull.client, pull.repository), [])):
                self._adopt(pull, chain)

    # -- closing ---------------------------------------------------------------------
    def due(self, now: float) -> list[Pull]:
        """Pulls quiet for the idle time (or complete and quiet for a moment) at `now`,
        removed from every index; waiting chains nobody claimed become sessions of their own."""
        out: list[Pull] = []
        while self.heap and self.heap[0][0] <= now:
            _, _, _, item = heapq.heappop(self.heap)
            if isinstance(item, Pull):
                if item.closed:
                    continue
                deadline = item.last + (self.grace_s if item.complete else self.idle_s)
                if deadline > now:
                    self._schedule(deadline, item)
                    continue
                self._close(item)
                out.append(item)
            elif isinstance(item, _Chain):
                if item.closed:
                    continue
                if item.last + self.idle_s > now:
                    self._schedule(item.last + self.idle_s, item)
                    continue
                out.append(self._orphan(item))
        return out

    def close_all(self) -> list[Pull]:
        out: list[Pull] = []
        for bucket in list(self.chains.values()):
            for chain in list(bucket):
                if not chain.closed:
                    out.append(self._orphan(chain))
        for pull in list(self.open.values()):
            self._close(pull)
            out.append(pull)
        self.heap.clear()
        return out

    def _orphan(self, chain: _Chain) -> Pull:
        """Steps no pull claimed: the nearest open pull of their client on that registry,
        else a session of their own (a bare ping, a browser's request)."""
        first = chain.steps[0]
        near = None
        agent = _agent(first)
        for p in reversed(self.by_host.get(chain.key, [])):
            if not p.closed and abs(p.last - first.exchange.started_at) <= self.idle_s and (
                    chain.is_ping or agent in p.agents):
                near = p
                break
        if near is not None:
            self._adopt(near, chain)
            return self._close(near)
        pull = self._new(first, chain.key[1], None, "other")
        self._adopt(pull, chain)
        return self._close(pull)

    def _close(self, pull: Pull) -> Pull:
        if pull.closed:
            return pull
        pull.closed = True
        self.open.pop(pull.seq, None)
        lent = self._lent.get((pull.client, pull.registry))
        if lent is not None:
            lent[:] = [entry for entry in lent if entry[0] is not pull]
            if not lent:
                del self._lent[(pull.client, pull.registry)]
        for index, key in pull.keys:
            bucket = index.get(key)
            if bucket is not None:
                while pull in bucket:
                    bucket.remove(pull)
                if not bucket:
                    del index[key]
        pull.keys.clear()
        for step in pull.session.steps:
            self.of_step.pop(step.id, None)
            self.pings.discard(step.id)
            self.answered.pop(step.id, None)
            for target in step.linked("answers"):
                tokens = self.answered.get(target)
                if tokens is not None:
                    tokens[:] = [t for t in tokens if t is not step]
                    if not tokens:
                        del self.answered[target]
        session = pull.session
        session.steps.sort(key=lambda s: s.exchange.started_at)
        for n, s in enumerate(session.steps, start=1):
            s.index = n
            # Links in one order whatever order the steps arrived in (a live capture sees
            # completions, a file sees starts): the same traffic gives the same JSON.
            s.links.sort(key=lambda link: _LINK_ORDER.get(link.rel, len(_LINK_ORDER)))
        session.summary = summarize(session, pull.registries)
        return pull

    @property
    def open_count(self) -> int:
        return len(self.open)

    @property
    def waiting_steps(self) -> int:
        return len(self.chain_of)


def group_sessions(steps: list[Step], *, idle_s: float = IDLE_GAP_S) -> list[Session]:
    """Group classified steps (in time order) into sessions with summaries."""
    g = Grouper(idle_s=idle_s)
    closed: list[Pull] = []
    for step in sorted(steps, key=lambda s: s.exchange.started_at):
        closed.extend(g.due(step.exchange.started_at))
        g.add(step)
    closed.extend(g.close_all())
    return number_sessions([p.session for p in closed])


def number_sessions(sessions: list[Session]) -> list[Session]:
    """Sessions in the order their first step happened, numbered s1, s2, …"""
    ordered = sorted(sessions, key=lambda s: (s.steps[0].exchange.started_at if s.steps else 0.0))
    for n, session in enumerate(ordered, start=1):
        session.id = f"s{n}"
    return ordered


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
            digest = step.facts.digest or step.reference
            if digest:
                out.add(digest)
    return out


def requested_blobs(session: Session) -> set[str]:
    out = set()
    for step in session.steps:
        digest = step.facts.digest
        if digest and kind_of(step) in _BLOB_LIKE:
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
    ns = next((s.facts.ns for s in steps if s.facts.ns), None)
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
    summary.platform = next((s.facts.platform for s in steps if s.facts.platform), None)
    manifest = image_manifest_step(session)
    if manifest is not None:
        summary.manifest_digest = manifest.facts.digest
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
                layer_digests.add(step.facts.digest or step.reference)
    summary.layers_fetched = len(layer_digests)
    requested = requested_blobs(session)
    # A blob never asked for was skipped (the client had it) only if every blob that was
    # asked for arrived: a pull that failed on its config (a redirect loop) never reached
    # its layers, and they were not "already present".
    if requested <= fetched:
        summary.skipped_blobs = [d for d in expected_blobs(session) if d not in fetched and d not in requested]
    summary.errors = [s.error or error_text(s.exchange) for s in steps if s.error or s.kind is StepKind.ERROR]
    return summary


def _image(session: Session, registry: str) -> str:
    repo, tag, digest = None, None, None
    for step in session.steps:
        if kind_of(step) in MANIFEST_KINDS:
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
    tokens = [s for s in steps if kind_of(s) in TOKEN_KINDS and s.facts.realm is not None]
    schemes = {auth_scheme(s.exchange) for s in steps if kind_of(s) not in TOKEN_KINDS}
    if tokens:
        with_credentials = any((t.facts.credential_kind or "anonymous") != "anonymous" for t in tokens)
        summary.auth = AUTH_CREDENTIALS if with_credentials else AUTH_ANONYMOUS
    elif "basic" in schemes or any(auth_scheme(s.exchange) == "basic" for s in steps):
        summary.auth = AUTH_BASIC
    elif "bearer" in schemes:
        summary.auth = AUTH_EARLIER_TOKEN
    else:
        summary.auth = AUTH_NONE
    for token in tokens:
        for scope in token.facts.scopes or []:
            if scope not in summary.scopes_requested:
                summary.scopes_requested.append(scope)
        claims: dict[str, Any] | None = token.facts.claims or token.exchange.token_claims
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
