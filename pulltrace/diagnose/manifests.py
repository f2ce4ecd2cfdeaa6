"""Manifest rules: unknown names and tags, a missing `library/`, absent platforms, Accept
headers that hide indexes, and manifest bytes that do not match their digest."""

from __future__ import annotations

import re

from pulltrace.diagnose.base import describe, finding, ok, position_of, recovered, status_text
from pulltrace.diagnose.facts import (
    accepted_types,
    auth_scheme,
    bearer_challenge,
    error_codes,
    error_message,
    host_of,
    is_manifest_step,
    json_body,
    kind_of,
    reference_of,
    repository_of,
    short,
    v2_path,
)
from pulltrace.manifest import (
    DOCKER_MANIFEST_LIST,
    INDEX_TYPES,
    OCI_INDEX,
    SCHEMA1_TYPES,
    ManifestError,
    Platform,
    parse_manifest,
)
from pulltrace.model import Finding, Session, Severity, Step, StepKind

_ACCEPT_MESSAGE = re.compile(r"accept header|schema ?1|not supported", re.I)


def _manifest_steps(session: Session) -> list[Step]:
    return [s for s in session.steps if is_manifest_step(s)]


def _digest(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip().strip('"').lower()
    return text if text.startswith("sha256:") else f"sha256:{text}"


# Docker Hub's own names: the convention the rule explains is Docker Hub's.
_DOCKER_HUB_HOSTS = frozenset({"docker.io", "registry-1.docker.io", "index.docker.io", "registry.hub.docker.com"})
_DOCKER_HUB_SERVICE = "registry.docker.io"


def serves_docker_hub_layout(session: Session, host: str) -> bool:
    """Docker Hub itself, a mirror of it (`?ns=docker.io`, a session summarised as a mirror of
    docker.io), or a registry whose token scopes or paths in this session name library/."""
    if host in _DOCKER_HUB_HOSTS or session.summary.registry in _DOCKER_HUB_HOSTS:
        return True
    for step in session.steps:
        if "ns=docker.io" in step.exchange.url or f"service={_DOCKER_HUB_SERVICE}" in step.exchange.url:
            return True
        repo = repository_of(step)
        if repo and repo.startswith("library/") and host_of(step.exchange.url) == host:
            return True
    return False


def missing_library_applies(session: Session, step: Step) -> bool:
    """A one-component name (`tiny`) refused by a registry: on a Docker-Hub-style registry or
    mirror official images live under `library/`, which only docker.io names get automatically."""
    repo = repository_of(step)
    if not repo or "/" in repo or not is_manifest_step(step):
        return False
    ex = step.exchange
    if ok(step) or recovered(session, step):
        return False
    codes = set(error_codes(ex))
    if ex.status == 404 and (codes & {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"} or not codes):
        # A plain "not found" names the library/ convention only where it holds: Docker Hub,
        # a mirror of it, or a registry whose other answers show library/ repositories. ECR,
        # GitLab or a private registry have one-component names of their own.
        return serves_docker_hub_layout(session, host_of(ex.url))
    challenge = bearer_challenge(ex)
    refused_with_token = ex.status in (401, 403) and (
        auth_scheme(ex) is not None or (challenge is not None and challenge.error == "insufficient_scope")
    )
    return refused_with_token or bool(
        codes & {"DENIED", "UNAUTHORIZED"} and ex.status in (401, 403) and auth_scheme(ex)
    )


def missing_library(session: Session, **_: object) -> list[Finding]:
    for step in _manifest_steps(session):
        if not missing_library_applies(session, step):
            continue
        repo = repository_of(step)
        host = host_of(step.exchange.url)
        return [finding(
            "manifest.missing-library",
            Severity.ERROR,
            f"{host} has no repository {repo!r}: official images live under library/{repo}",
            f"{describe(step)} was refused ({status_text(step)}). On Docker Hub and registries or mirrors laid out "
            f"like it, official images are stored as library/<name>; docker adds `library/` only to docker.io names, "
            f"so `{host}/{repo}` asks for a repository that does not exist.",
            (
                f"Pull `{host}/library/{repo}:{reference_of(step) or 'latest'}` instead (or configure the host as a "
                "`registry-mirrors` entry, so `docker pull {repo}` goes through it with the right name)."
            ).replace("{repo}", repo or ""),
            [step],
        )]
    return []


def _tags_seen(session: Session, repo: str | None) -> list[str] | None:
    for step in session.steps:
        parsed = v2_path(step.exchange.url)
        if parsed and parsed.endpoint == "tags" and parsed.repository == repo and ok(step):
            body = json_body(step.exchange)
            if body and isinstance(body.get("tags"), list):
                return [str(t) for t in body["tags"]]
    return None


def not_found(session: Session, **_: object) -> list[Finding]:
    """404 on a manifest: the tag, digest or repository does not exist on that registry.

    A HEAD then a GET of the same missing tag make one finding; the GET's error body
    (a HEAD has none) says whether the tag or the whole repository is unknown.
    """
    groups: dict[tuple[str, str | None, str | None], list[Step]] = {}
    for step in _manifest_steps(session):
        ex = step.exchange
        if ex.status != 404 or recovered(session, step) or missing_library_applies(session, step):
            continue
        if _ACCEPT_MESSAGE.search(error_message(ex)):
            continue  # the Accept rule explains it
        groups.setdefault((host_of(ex.url), repository_of(step), reference_of(step)), []).append(step)
    out = []
    for (host, repo_or_none, ref_or_none), steps in groups.items():
        repo, ref = repo_or_none or "?", ref_or_none or "?"
        codes = [c for s in steps for c in error_codes(s.exchange)]
        where = describe(next((s for s in steps if error_codes(s.exchange)), steps[0]))
        if "NAME_UNKNOWN" in codes:
            out.append(finding(
                "manifest.name-unknown",
                Severity.ERROR,
                f"Repository {repo} does not exist on {host}",
                f"{where} answered 404 NAME_UNKNOWN: {host} has no repository called {repo!r}.",
                "Check the image name (spelling, organisation"
                + (", `library/` for official images" if serves_docker_hub_layout(session, host) else "")
                + f") and the registry host; list what exists with `curl https://{host}/v2/_catalog` where the "
                "registry allows it.",
                steps,
            ))
            continue
        is_digest = ref.startswith("sha256:")
        tags = _tags_seen(session, repo)
        what = f"manifest {ref}" if is_digest else f"tag {ref!r}"
        code = next((c for c in codes), None)
        cause = (
            f"{where} answered 404 {code or 'Not Found'}: "
            + (f"repository {repo} exists on {host} but has no {what}." if tags
               else f"{host} has no {what} in {repo}, or no repository {repo} at all (distribution answers "
                    "MANIFEST_UNKNOWN for both).")
        )
        if tags is not None:
            cause += f" Tags present: {', '.join(tags[:15]) or 'none'}."
        fix = (
            "The digest may belong to another repository or platform, or the image was deleted and garbage-collected; "
            "pull by tag, or take the digest from `docker buildx imagetools inspect`."
            if is_digest
            else f"Check the image name and the tag's spelling; list the tags with `skopeo list-tags "
            f"docker://{host}/{repo}` (or `GET /v2/{repo}/tags/list`). A missing tag defaults to `latest`, which many "
            "repositories lack."
        )
        out.append(finding(
            "manifest.unknown", Severity.ERROR,
            f"{'Manifest' if is_digest else 'Tag'} {ref} not found in {repo} on {host}", cause, fix, steps,
        ))
    return out


def _tag_of(session: Session, step: Step) -> str:
    """The tag a pull asked for: an index fetched by digest follows a HEAD by tag."""
    ref = reference_of(step) or ""
    if ref and not ref.startswith("sha256:"):
        return ref
    for earlier in session.steps[: position_of(session, step)]:
        earlier_ref = reference_of(earlier) or ""
        if is_manifest_step(earlier) and earlier_ref and not earlier_ref.startswith("sha256:"):
            return earlier_ref
    return ref or "?"


def _index_platforms(step: Step) -> list[Platform] | None:
    listed = step.facts.platforms
    if listed:
        out = []
        for item in listed:
            try:
                out.append(Platform.parse(item))
            except ValueError:
                continue
        return out
    if not step.exchange.response_body_preview:
        return None
    try:
        parsed = parse_manifest(step.exchange.response_body_preview, step.exchange.content_type)
    except ManifestError:
        return None
    return parsed.platforms() if parsed.is_index else None


def _index_digests(step: Step) -> set[str]:
    try:
        parsed = parse_manifest(step.exchange.response_body_preview or "", step.exchange.content_type)
    except ManifestError:
        return set()
    return {d.digest for d in parsed.manifests}


def _is_blob_url(step: Step) -> bool:
    parsed = v2_path(step.exchange.url)
    return parsed is not None and parsed.endpoint == "blob"


def _is_index(step: Step) -> bool:
    return kind_of(step) == StepKind.MANIFEST_INDEX or (step.exchange.content_type or "") in INDEX_TYPES


def platform_missing(session: Session, *, wanted_platform: str | None = None, **_: object) -> list[Finding]:
    """An index was fetched but no platform manifest followed: the wanted platform is not in it."""
    out = []
    for step in _manifest_steps(session):
        if not (_is_index(step) and ok(step) and step.exchange.method == "GET"):
            continue
        pos = position_of(session, step)
        later = session.steps[pos + 1:]
        digests = _index_digests(step)
        chosen = [
            s for s in later
            if is_manifest_step(s) and ok(s) and not _is_index(s)
            and (not digests or reference_of(s) in digests or s.linked("chosen-from"))
        ]
        blobs_fetched = any(_is_blob_url(s) for s in later)
        if chosen or blobs_fetched or any(link.rel == "chooses" for link in step.links):
            continue
        platforms = _index_platforms(step)
        present = ", ".join(str(p) for p in platforms) if platforms else "unknown (the index body was not kept)"
        repo = repository_of(step)
        ref = _tag_of(session, step)
        wanted = None
        if wanted_platform:
            try:
                wanted = Platform.parse(wanted_platform)
            except ValueError:
                wanted = None
        if wanted is not None and platforms is not None and any(p.matches(wanted) for p in platforms):
            continue  # it is there; the pull stopped for another reason
        if wanted is not None:
            out.append(finding(
                "manifest.platform-missing",
                Severity.ERROR,
                f"{repo}:{ref} has no image for {wanted}",
                f"{describe(step)} returned a multi-platform index listing {present}; none matches {wanted}, "
                "so the client stopped (docker: \"no matching manifest for … in the manifest list entries\").",
                "Pull one of the listed platforms with `--platform` "
                f"(e.g. `--platform {platforms[0] if platforms else 'linux/amd64'}`, "
                "it then runs under emulation via qemu/binfmt), or ask the image's maintainers to publish "
                f"{wanted}.",
                [step],
            ))
        else:
            out.append(finding(
                "manifest.platform-missing",
                Severity.INFO,
                f"The pull of {repo}:{ref} stopped after the platform list",
                f"{describe(step)} returned a multi-platform index ({present}) and the client fetched none of its "
                "images. Either your platform is not among them, or the client already had the image manifest "
                "(containerd re-pulls do this).",
                "If the client said \"no matching manifest\", pull a listed platform with `--platform`; otherwise "
                "nothing is wrong.",
                [step],
            ))
    return out


def accept_mismatch(session: Session, **_: object) -> list[Finding]:
    """The client's Accept header left out index (or OCI) types, so the registry answered with
    something else: a schema-1 rewrite, the default platform's manifest, or a 404."""
    out = []
    for step in _manifest_steps(session):
        ex = step.exchange
        if ex.method not in ("GET", "HEAD"):
            continue
        accepted = accepted_types(ex)
        accepted_set = set(accepted or [])
        lacks_index = not (accepted_set & INDEX_TYPES)
        message = error_message(ex)
        refused_for_accept = ex.status in (400, 404, 406) and bool(_ACCEPT_MESSAGE.search(message))
        got = ex.content_type or ""
        if not refused_for_accept and not lacks_index:
            continue
        if not refused_for_accept and not ok(step):
            continue
        shown = ", ".join(accepted) if accepted else "none (no Accept header)"
        missing = [t for t in (OCI_INDEX, DOCKER_MANIFEST_LIST) if t not in accepted_set]
        if refused_for_accept:
            if recovered(session, step):
                continue
            out.append(finding(
                "manifest.accept-mismatch",
                Severity.ERROR,
                f"{host_of(ex.url)} refused the manifest because the client's Accept header does not allow its type",
                f"{describe(step)} sent Accept: {shown}; the registry answered {status_text(step)} "
                f"({short(message, 120)}). The stored manifest is of a type the client did not list.",
                f"Use a client that accepts {', '.join(missing) or 'OCI manifests and indexes'} (docker ≥ 20.10, "
                "skopeo, containerd), or push the image as a Docker manifest list instead of an OCI index.",
                [step],
            ))
        elif got in SCHEMA1_TYPES:
            out.append(finding(
                "manifest.accept-mismatch",
                Severity.WARNING,
                f"{host_of(ex.url)} converted the manifest to the old schema 1 format",
                f"{describe(step)} sent Accept: {shown}, which lists no manifest list or index type, so the registry "
                f"rewrote the image as a schema 1 manifest ({got}). Schema 1 is deprecated, single-platform, "
                "and its digest differs from the pushed image's.",
                f"Send an Accept header that includes {', '.join(missing)} and the v2/OCI manifest types; "
                "upgrade the client.",
                [step],
            ))
        elif got and accepted is not None and got not in accepted_set and "*/*" not in accepted_set:
            out.append(finding(
                "manifest.accept-mismatch",
                Severity.WARNING,
                f"{host_of(ex.url)} returned {got}, which the client did not ask for",
                f"{describe(step)} sent Accept: {shown} and received {got}; the client may fail to read it.",
                f"Send an Accept header listing every manifest type the client reads, including {', '.join(missing)}.",
                [step],
            ))
        elif (
            lacks_index and accepted is not None and ex.method == "GET"
            and not (reference_of(step) or "sha256:").startswith("sha256:")
        ):
            out.append(finding(
                "manifest.accept-mismatch",
                Severity.INFO,
                "The client did not accept multi-platform indexes",
                f"{describe(step)} sent Accept: {shown}, without {' or '.join(missing)}. For a multi-platform tag "
                "the registry then picks an image itself (linux/amd64) or refuses; "
                "here it sent a single image manifest.",
                f"If you wanted another platform, use a client that accepts {' and '.join(missing)}.",
                [step],
            ))
    return out


def digest_mismatch(session: Session, **_: object) -> list[Finding]:
    """Manifest bytes whose sha256 differs from Docker-Content-Digest or from the digest asked for."""
    out = []
    for step in _manifest_steps(session):
        ex = step.exchange
        if ex.status != 200 or ex.method != "GET" or not ex.body_sha256:
            continue
        actual = _digest(ex.body_sha256)
        header = _digest(ex.response_header("docker-content-digest"))
        ref = reference_of(step) or ""
        asked = ref if ref.startswith("sha256:") else None
        if asked and actual != asked:
            out.append(finding(
                "manifest.digest-mismatch",
                Severity.ERROR,
                f"The manifest {asked[:19]}… from {host_of(ex.url)} is not the one asked for",
                f"{describe(step)} asked for digest {asked}, but the bytes returned hash to {actual}. Content "
                "addressed by digest must hash to it; something between the client and the registry changed it.",
                "Look for a proxy or cache rewriting responses (compression, charset, a stale mirror); pull directly "
                "from the registry to compare.",
                [step],
            ))
        elif header and actual != header:
            out.append(finding(
                "manifest.digest-mismatch",
                Severity.ERROR,
                f"{host_of(ex.url)}'s Docker-Content-Digest does not match the manifest bytes",
                f"{describe(step)} returned Docker-Content-Digest {header}, but the bytes hash to {actual}. Clients "
                "that verify (containerd, skopeo) refuse the manifest; docker may record the wrong digest.",
                "A proxy or mirror altered the manifest (re-serialised JSON, a stale cache entry); bypass it to "
                "confirm, then purge the cache or fix the proxy so manifests pass byte for byte.",
                [step],
            ))
    return out


RULES = (missing_library, not_found, accept_mismatch, platform_missing, digest_mismatch)

