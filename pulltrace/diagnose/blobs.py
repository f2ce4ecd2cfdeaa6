"""Blob rules: unknown blobs, bytes that do not hash to their digest, and the redirect hop
to a CDN (refused signed URLs, loops, and credentials forwarded to the CDN host)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from pulltrace.diagnose.base import describe, finding, ok, position_of, recovered, status_text
from pulltrace.diagnose.facts import (
    auth_scheme,
    error_codes,
    error_message,
    host_of,
    is_blob_step,
    is_cdn_step,
    kind_of,
    reference_of,
    registry_hosts,
    repository_of,
    same_host,
    short,
    v2_path,
)
from pulltrace.model import Finding, Session, Severity, Step, StepKind
from pulltrace.urls import join_url

# distribution's storage layout, which a CDN in front of the storage serves as is:
# /docker/registry/v2/blobs/sha256/<2 hex>/<64 hex>/data
_STORAGE_DIGEST = re.compile(r"/sha256/[0-9a-f]{2}/([0-9a-f]{64})(?:/|$)")
_MAX_HOPS = 10


def _digest(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip().lower()
    return text if text.startswith("sha256:") else f"sha256:{text}"


@dataclass(frozen=True)
class Hop:
    """One redirect: the 3xx step and the step that followed its Location, if recorded."""

    redirect: Step
    location: str
    target: Step | None


def _location(step: Step) -> str | None:
    ex = step.exchange
    if ex.status is None or not 300 <= ex.status < 400:
        return None
    location = ex.response_header("location")
    return _join(ex.url, location) if location else None


@lru_cache(maxsize=4096)
def _join(base: str, location: str) -> str:
    return join_url(base, location)


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def hops(session: Session) -> list[Hop]:
    """Every redirect in the session and the request that followed it (linked, or same URL later).
    Several rules ask; it is worked out once per session (until its steps change)."""
    cached = session.__dict__.get("_hops")
    if cached is not None and cached[0] is session.steps and cached[1] == len(session.steps):
        return list(cached[2])
    out = _hops(session)
    session.__dict__["_hops"] = (session.steps, len(session.steps), out)
    return list(out)


def _hops(session: Session) -> list[Hop]:
    out = []
    by_id = {s.id: s for s in session.steps}
    for step in session.steps:
        location = _location(step)
        if not location:
            continue
        target = None
        for linked in step.linked("redirects-to"):
            target = by_id.get(linked)
        if target is None:
            for later in session.steps[position_of(session, step) + 1:]:
                if step.id in later.linked("follows") or _strip_query(later.exchange.url) == _strip_query(location):
                    target = later
                    break
        out.append(Hop(step, location, target))
    return out


def _cdn_steps(session: Session) -> list[tuple[Step, Hop | None]]:
    """Downloads from the storage/CDN side of a redirect, with the hop that led there."""
    led_by = {h.target.id: h for h in hops(session) if h.target is not None}
    out = []
    for step in session.steps:
        hop = led_by.get(step.id)
        if is_cdn_step(step) or (hop is not None and v2_path(step.exchange.url) is None):
            out.append((step, hop))
    return out


def _expected_digest(step: Step, hop: Hop | None) -> str | None:
    if step.facts.digest is not None:
        return _digest(step.facts.digest)
    if hop is not None:
        ref = reference_of(hop.redirect)
        if ref and ref.startswith("sha256:"):
            return ref
    parsed = v2_path(step.exchange.url)
    if parsed and parsed.endpoint == "blob" and parsed.reference and parsed.reference.startswith("sha256:"):
        return parsed.reference
    m = _STORAGE_DIGEST.search(urlsplit(step.exchange.url).path)
    return f"sha256:{m.group(1)}" if m else None


def blob_unknown(session: Session, **_: object) -> list[Finding]:
    """404 BLOB_UNKNOWN: the manifest names a blob the registry does not have."""
    missing = [
        s for s in session.steps
        if is_blob_step(s) and s.exchange.status == 404 and not recovered(session, s)
        and ("BLOB_UNKNOWN" in error_codes(s.exchange) or not error_codes(s.exchange))
    ]
    if not missing:
        return []
    first = missing[0]
    host = host_of(first.exchange.url)
    repo = repository_of(first)
    names = ", ".join((reference_of(s) or "?")[:19] + "…" for s in missing[:5])
    return [finding(
        "blob.unknown",
        Severity.ERROR,
        f"{host} is missing {len(missing)} blob(s) of {repo}",
        f"The image manifest lists blob(s) {names} but {describe(first)} answered {status_text(first)}. "
        "The image was pushed incompletely, or its layers were deleted by garbage collection while the tag "
        "still points at them (a pull-through mirror whose upstream lost them looks the same).",
        f"Push the image to {host}/{repo} again (every layer is re-uploaded if missing), or run the registry's "
        "garbage collection only with `--delete-untagged` after untagging, never during pushes.",
        missing,
    )]


def digest_mismatch(session: Session, **_: object) -> list[Finding]:
    """Bytes whose sha256 differs from the digest they were fetched by."""
    out = []
    candidates: list[tuple[Step, Hop | None]] = [
        (s, None) for s in session.steps if is_blob_step(s) and kind_of(s) != StepKind.BLOB_REDIRECT
    ]
    candidates += _cdn_steps(session)
    for step, hop in candidates:
        ex = step.exchange
        # Only a whole 200 body hashes to the digest; a 206 range is a piece of it.
        if ex.status != 200 or ex.method != "GET" or not ex.body_sha256:
            continue
        expected = _expected_digest(step, hop)
        actual = _digest(ex.body_sha256)
        if not expected or actual == expected:
            continue
        out.append(finding(
            "blob.digest-mismatch",
            Severity.ERROR,
            f"A blob from {host_of(ex.url)} does not hash to its digest",
            f"{describe(step)} was fetched as {expected}, "
            f"but its {ex.response_bytes if ex.response_bytes is not None else '?'} "
            f"bytes hash to {actual}. The client must reject it (docker: \"filesystem layer verification failed\").",
            "Something altered or truncated the bytes: a caching proxy or CDN serving a stale or corrupt object, "
            "a transparent proxy recompressing, or corrupted registry storage. Fetch the blob directly from the "
            "registry to compare; purge the CDN/mirror entry or re-push the image.",
            [s for s in (hop.redirect if hop else None, step) if s is not None],
        ))
    return out


def cdn_refused(session: Session, **_: object) -> list[Finding]:
    """The CDN refused the redirect target: an expired signed URL, or Authorization forwarded to it."""
    out = []
    for step, hop in _cdn_steps(session):
        ex = step.exchange
        if ex.status not in (400, 401, 403) or _download_recovered(session, step, hop):
            continue
        host = host_of(ex.url)
        detail = short(error_message(ex), 120)
        forwarded = auth_scheme(ex)
        if forwarded:
            cause = (
                f"{describe(step)} answered {status_text(step)}"
                + (f" ({detail})" if detail else "")
                + f". The request carried the registry's Authorization ({forwarded.capitalize()}) to {host}; storage "
                "services such as S3 refuse a request that has both a signed URL and an Authorization header."
            )
            fix = (
                "The client must drop Authorization when a redirect leaves the registry host (docker, containerd and "
                "skopeo do). Upgrade or fix the client, or the proxy that re-adds the header."
            )
        else:
            delay = (ex.started_at - hop.redirect.exchange.started_at) if hop else None
            cause = (
                f"{describe(step)} answered {status_text(step)}"
                + (f" ({detail})" if detail else "")
                + ". The redirect pointed at a signed URL, whose signature the CDN rejected: it expired"
                + (
                    f" (the client followed it {delay:.0f} s after the redirect)"
                    if delay is not None and delay >= 1 else ""
                )
                + ", or it was altered on the way (a proxy rewriting query strings), or the CDN's clock is off."
            )
            fix = (
                "Retry the pull (a fresh redirect carries a fresh signature). If it persists, check the registry's "
                "storage redirect settings (URL lifetime, the CDN's signing key) and that no proxy rewrites the URL."
            )
        out.append(finding(
            "blob.cdn-refused", Severity.ERROR, f"The download host {host} refused the blob", cause, fix,
            [s for s in (hop.redirect if hop else None, step) if s is not None],
        ))
    return out


def _download_recovered(session: Session, step: Step, hop: Hop | None) -> bool:
    expected = _expected_digest(step, hop)
    pos = position_of(session, step)
    for later in session.steps[pos + 1:]:
        if not ok(later) or (later.exchange.status or 0) >= 300:
            continue
        if expected and _expected_digest(later, None) == expected:
            return True
    return False


def redirect_loop(session: Session, **_: object) -> list[Finding]:
    """A chain of redirects that comes back to a URL it already visited, or never ends."""
    by_url: dict[str, list[Step]] = {}
    for hop in hops(session):
        by_url.setdefault(_strip_query(hop.redirect.exchange.url), []).append(hop.redirect)
    location_of = {_strip_query(h.redirect.exchange.url): _strip_query(h.location) for h in hops(session)}
    for start in list(location_of):
        chain = [start]
        url = start
        while url in location_of and len(chain) <= _MAX_HOPS:
            url = location_of[url]
            if url in chain:
                steps = [s for u in chain for s in by_url.get(u, [])]
                hosts = " → ".join(dict.fromkeys(host_of(u) for u in chain + [url]))
                return [_loop_finding(steps, hosts, f"came back to {url}", len(chain))]
            chain.append(url)
        if len(chain) > _MAX_HOPS:
            steps = [s for u in chain for s in by_url.get(u, [])]
            hosts = " → ".join(dict.fromkeys(host_of(u) for u in chain))
            return [_loop_finding(steps, hosts, f"went on for more than {_MAX_HOPS} hops", len(chain))]
    # A client that stops following leaves the same URL redirected over and over.
    for url, steps in by_url.items():
        if len(steps) >= 3 and all(
            location_of.get(url) == location_of.get(_strip_query(s.exchange.url)) for s in steps
        ):
            target = location_of.get(url, "")
            if target in by_url:
                return [_loop_finding(
                    steps + by_url[target],
                    f"{host_of(url)} → {host_of(target)}",
                    "kept bouncing",
                    len(steps),
                )]
    return []


def _loop_finding(steps: list[Step], hosts: str, how: str, hops_seen: int) -> Finding:
    return finding(
        "blob.redirect-loop",
        Severity.ERROR,
        f"The download redirects in a loop ({hosts})",
        f"Following the registry's redirect ({hops_seen} hops) {how}: each host sends the client on to the next and "
        "none serves the bytes. Clients give up (\"stopped after 10 redirects\").",
        "Check the registry's storage redirect (distribution: `storage.redirect`, the middleware's `baseurl`) and the "
        "CDN's origin settings: the CDN must serve the storage path, not redirect it back to the registry.",
        steps,
    )


def auth_to_cdn(session: Session, **_: object) -> list[Finding]:
    """Authorization sent to a download host other than the registry: a credential leak."""
    registries = registry_hosts(session)
    leaks: list[tuple[Step, Hop | None, str]] = []
    for step, hop in _cdn_steps(session):
        scheme = auth_scheme(step.exchange)
        host = host_of(step.exchange.url)
        if scheme and not any(same_host(host, r) for r in registries):
            leaks.append((step, hop, scheme))
    if not leaks:
        return []
    step, hop, scheme = leaks[0]
    host = host_of(step.exchange.url)
    basic = any(s == "basic" for _, _, s in leaks)
    what = "your username and password (Basic credentials)" if basic else "the registry's bearer token"
    return [finding(
        "blob.auth-to-cdn",
        Severity.ERROR if basic else Severity.WARNING,
        f"Credentials were sent to the download host {host}",
        f"{describe(step)} followed a redirect away from the registry ({', '.join(sorted(registries))}) and still "
        f"carried {what} in its Authorization header, in {len(leaks)} request(s). The download host's operator "
        "(a CDN, object storage) can read and reuse it.",
        "Use a client that drops Authorization on cross-host redirects (docker, containerd, skopeo, httpx do); "
        + (
            "change the password now, it has been exposed."
            if basic else "the token expires soon, but treat it as exposed."
        )
        + " If a proxy adds the header, scope it to the registry host.",
        [s for st, hp, _ in leaks for s in (hp.redirect if hp else None, st) if s is not None],
    )]


RULES = (blob_unknown, digest_mismatch, cdn_refused, redirect_loop, auth_to_cdn)
