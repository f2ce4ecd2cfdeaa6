"""Two traces side by side, step by step: docker against the built-in client, a
mirror against a direct pull. Steps are aligned by what they are, not by position:
by kind and digest or URL path shape (identity_key), and what has no identity by a
sequence alignment (difflib) over (kind, normalised path) keys."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from pulltrace.model import Trace
from pulltrace.render import fmt
from pulltrace.render.i18n import translator
from pulltrace.render.rows import SessionView, StepRow, trace_view
from pulltrace.v2path import is_digest, parse_path

SAME, CHANGED, ONLY_A, ONLY_B = "same", "changed", "only-a", "only-b"

# The path segment each API endpoint is named by (the keys of older diffs).
_OPS = {"manifest": "manifests", "blob": "blobs", "tags": "tags"}
_HEX_RE = re.compile(r"(?:sha256[:/])?(?:[0-9a-f]{2}/)?([0-9a-f]{64})")
# Headers whose difference means the registries answered differently; Date, ETag
# and request ids differ on every pull and say nothing.
_COMPARED_HEADERS = ("content-type", "docker-content-digest", "www-authenticate", "content-length")


@dataclass
class Difference:
    field: str
    a: str
    b: str


@dataclass
class DiffRow:
    status: str
    a: StepRow | None
    b: StepRow | None
    kind_label: str
    differences: list[Difference] = field(default_factory=list)


@dataclass
class SessionDiff:
    number: int
    title_a: str
    title_b: str
    rows: list[DiffRow]
    totals: list[Difference]
    counts: dict[str, int]
    registry_a: str = ""
    registry_b: str = ""


@dataclass
class TraceDiff:
    lang: str
    label_a: str
    label_b: str
    sessions: list[SessionDiff]


def align_key(row: StepRow) -> tuple[str, ...]:
    """What a step asks for, independent of host, repository prefix and query:
    a mirror adds `?ns=`, a proxy adds a path prefix, token realms differ."""
    kind = row.kind
    if kind in ("token", "login", "ping"):
        return (kind,)
    path = row.path.split("?", 1)[0]
    api = parse_path(path)
    if api is not None and api.endpoint in ("manifest", "blob", "tags") and api.reference:
        return (kind, _OPS[api.endpoint], api.reference)
    digest = _HEX_RE.search(path)
    if digest:
        return (kind, "sha256:" + digest.group(1))
    return (kind, fmt.short_digest(path, 0))


def _host_path(url: str) -> str:
    # A relative Location (or none, when only one side redirects) has no host to split on.
    host = fmt.host_of(url)
    path = url.split("?", 1)[0]
    return host + path.split(host, 1)[-1] if host else path


def step_differences(a: StepRow, b: StepRow, lang: str = "en") -> list[Difference]:
    """The facts that differ between two aligned steps (time is shown, not judged)."""
    t = translator(lang)
    out: list[Difference] = []

    def cmp(name: str, x: object, y: object) -> None:
        if x != y:
            out.append(Difference(name, "" if x is None else str(x), "" if y is None else str(y)))

    cmp(t("status"), a.status_text, b.status_text)
    cmp("method", a.method, b.method)
    cmp(t("host"), a.host, b.host)
    ha = {k.lower(): v for k, v in a.response_headers}
    hb = {k.lower(): v for k, v in b.response_headers}
    for name in _COMPARED_HEADERS:
        cmp(_title(name), ha.get(name), hb.get(name))
    # A redirect's target: compare where it points, not its (signed, masked) query.
    la, lb = ha.get("location"), hb.get("location")
    if la or lb:
        cmp("Location", _host_path(la or ""), _host_path(lb or ""))
    cmp(t("bytes"), a.bytes, b.bytes)
    return out


def _title(header: str) -> str:
    return "-".join(p.capitalize() for p in header.split("-"))


def diff_session_views(a: SessionView | None, b: SessionView | None, number: int, lang: str) -> SessionDiff:
    t = translator(lang)
    rows_a = a.steps if a else []
    rows_b = b.steps if b else []
    out = _aligned_rows(rows_a, rows_b, lang)
    counts = {k: sum(1 for r in out if r.status == k) for k in (SAME, CHANGED, ONLY_A, ONLY_B)}
    totals: list[Difference] = []
    if a and b:
        pairs = (
            (t("steps"), len(rows_a), len(rows_b)),
            (t("bytes"), fmt.human_bytes(sum(r.bytes or 0 for r in rows_a)),
             fmt.human_bytes(sum(r.bytes or 0 for r in rows_b))),
            (t("duration"), fmt.human_ms(a.total_ms), fmt.human_ms(b.total_ms)),
            (t("registry"), a.registry, b.registry),
            (t("client"), a.client, b.client),
        )
        totals = [Difference(name, str(x), str(y)) for name, x, y in pairs]
    return SessionDiff(
        number, a.title if a else "", b.title if b else "", out, totals, counts,
        registry_a=a.registry if a else "", registry_b=b.registry if b else "",
    )


def identity_key(row: StepRow) -> tuple[str, ...] | None:
    """What a step is, whatever its position: blobs and manifests by digest, ping, token and
    manifests by tag by the shape of their URL path. None for a step with no identity (a
    catalog, an upload, anything unclassified): those are aligned by sequence.

    Kinds of one endpoint are one family: a mirror serves a blob that Docker Hub redirects
    (layer-blob against blob-redirect), a tag resolves to an index on one registry and a
    manifest on another; the row then shows the kind as a difference.
    """
    family = _FAMILY.get(row.kind, row.kind)
    if family in ("ping", "token", "login"):
        # Token realms differ in path between registries (/token, /auth, /v2/token, quay's
        # /v2/auth) and are one step of the token flow (distribution token auth spec).
        return (family,)
    path = row.path.split("?", 1)[0]
    api = parse_path(path)
    if api is not None and api.endpoint in ("manifest", "blob") and api.reference:
        if api.by_digest:
            return (family, api.reference)
        return (family, "tag", api.reference)
    if family == "cdn-download":
        digest = _HEX_RE.search(path)
        if digest:
            return (family, "sha256:" + digest.group(1))
    return None


# Kinds answered by one registry endpoint (see identity_key).
_FAMILY = {
    "layer-blob": "blob", "config-blob": "blob", "blob-redirect": "blob",
    "manifest": "manifest", "manifest-index": "manifest",
}


def _aligned_rows(rows_a: list[StepRow], rows_b: list[StepRow], lang: str) -> list[DiffRow]:
    """Pair steps by identity first, then the rest by sequence (difflib), and list the
    pairs in A's order with B's unpaired steps where B had them."""
    ids_a = [identity_key(r) for r in rows_a]
    ids_b = [identity_key(r) for r in rows_b]
    pair_of_a: dict[int, int] = {}
    where_b: dict[tuple[str, ...], list[int]] = {}
    for j, key in enumerate(ids_b):
        if key is not None:
            where_b.setdefault(key, []).append(j)
    where_a: dict[tuple[str, ...], list[int]] = {}
    for i, key in enumerate(ids_a):
        if key is not None:
            where_a.setdefault(key, []).append(i)
    for key, left in where_a.items():
        # Repeats of one step are retries: the last attempts are the ones that count, so
        # pair from the end and leave the extra early attempts unpaired.
        for i, j in zip(reversed(left), reversed(where_b.get(key, [])), strict=False):
            pair_of_a[i] = j
    paired_b = set(pair_of_a.values())
    rest_a = [i for i in range(len(rows_a)) if i not in pair_of_a]
    rest_b = [j for j in range(len(rows_b)) if j not in paired_b]
    keys_a = [align_key(rows_a[i]) for i in rest_a]
    keys_b = [align_key(rows_b[j]) for j in rest_b]
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pair_of_a.update(zip(rest_a[i1:i2], rest_b[j1:j2], strict=True))
        elif op == "replace":
            pair_of_a.update(_pair_by_kind(rest_a[i1:i2], rest_b[j1:j2], rows_a, rows_b, ids_a, ids_b))
    paired_b = set(pair_of_a.values())
    out: list[DiffRow] = []
    next_b = 0

    def flush_b(upto: int) -> None:
        nonlocal next_b
        for k in range(next_b, upto):
            if k not in paired_b:
                out.append(DiffRow(ONLY_B, None, rows_b[k], rows_b[k].kind_label))
        next_b = max(next_b, upto)

    for i, ra in enumerate(rows_a):
        match = pair_of_a.get(i)
        if match is None:
            out.append(DiffRow(ONLY_A, ra, None, ra.kind_label))
            continue
        flush_b(match)
        out.append(_pair(ra, rows_b[match], lang))
    flush_b(len(rows_b))
    return out


def _pair_by_kind(
    block_a: list[int], block_b: list[int], rows_a: list[StepRow], rows_b: list[StepRow],
    ids_a: list[tuple[str, ...] | None], ids_b: list[tuple[str, ...] | None],
) -> dict[int, int]:
    """Inside a replaced block, steps of the same kind are the same step asked differently
    (a tag against a digest), unless both name a digest: two digests are two contents."""
    pairs: dict[int, int] = {}
    used: set[int] = set()
    start = 0
    for i in block_a:
        for pos in range(start, len(block_b)):
            j = block_b[pos]
            if j in used or rows_b[j].kind != rows_a[i].kind:
                continue
            if _names_digest(ids_a[i]) and _names_digest(ids_b[j]):
                continue
            pairs[i] = j
            used.add(j)
            start = pos + 1
            break
    return pairs


def _names_digest(key: tuple[str, ...] | None) -> bool:
    return key is not None and len(key) == 2 and is_digest(key[1])


def _pair(a: StepRow, b: StepRow, lang: str) -> DiffRow:
    t = translator(lang)
    diffs = step_differences(a, b, lang)
    if a.kind != b.kind:
        diffs.insert(0, Difference(t("kind"), a.kind_label, b.kind_label))
    if align_key(a) != align_key(b) and identity_key(a) != identity_key(b):
        diffs.insert(0, Difference(t("request"), a.path, b.path))
    return DiffRow(CHANGED if diffs else SAME, a, b, a.kind_label, diffs)


def _image_key(s: SessionView) -> str:
    # The repository without registry host and tag: a mirror and a direct pull of
    # one image name it differently (docker.io/library/x vs mirror.test/library/x).
    name = s.title.split("@", 1)[0]
    if "/" in name and ("." in name.split("/", 1)[0] or ":" in name.split("/", 1)[0]):
        name = name.split("/", 1)[1]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def diff_traces(a: Trace, b: Trace, *, lang: str = "en", label_a: str = "A", label_b: str = "B") -> TraceDiff:
    """Pair sessions (by image, then by order) and align each pair's steps."""
    va, vb = trace_view(a, lang=lang), trace_view(b, lang=lang)
    left_b = list(vb.sessions)
    pairs: list[tuple[SessionView | None, SessionView | None]] = []
    unmatched_a = []
    for sa in va.sessions:
        match = next((sb for sb in left_b if _image_key(sb) == _image_key(sa)), None)
        if match is None:
            unmatched_a.append(sa)
            continue
        left_b.remove(match)
        pairs.append((sa, match))
    for sa in unmatched_a:
        pairs.append((sa, left_b.pop(0) if left_b else None))
    pairs.extend((None, sb) for sb in left_b)
    sessions = [diff_session_views(sa, sb, n, lang) for n, (sa, sb) in enumerate(pairs, 1)]
    return TraceDiff(lang, label_a, label_b, sessions)
