"""Two traces side by side, step by step: docker against the built-in client, a
mirror against a direct pull. Steps are aligned by what they ask for, not by
position: a sequence alignment (difflib) over (kind, normalised path) keys."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from pulltrace.model import Trace
from pulltrace.render import fmt
from pulltrace.render.i18n import translator
from pulltrace.render.rows import SessionView, StepRow, trace_view
from pulltrace.v2path import parse_path

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
    return fmt.host_of(url) + url.split("?", 1)[0].split(fmt.host_of(url), 1)[-1]


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
    keys_a = [align_key(r) for r in rows_a]
    keys_b = [align_key(r) for r in rows_b]
    out: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for ra, rb in zip(rows_a[i1:i2], rows_b[j1:j2], strict=True):
                out.append(_pair(ra, rb, lang))
        else:
            out.extend(_pair_block(rows_a[i1:i2], rows_b[j1:j2], lang))
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


def _pair(a: StepRow, b: StepRow, lang: str) -> DiffRow:
    diffs = step_differences(a, b, lang)
    return DiffRow(CHANGED if diffs else SAME, a, b, a.kind_label, diffs)


def _pair_block(block_a: list[StepRow], block_b: list[StepRow], lang: str) -> list[DiffRow]:
    """Inside a replaced block, steps of the same kind are the same step asked
    differently (a tag against a digest, another order of parallel blobs)."""
    out: list[DiffRow] = []
    used: set[int] = set()
    for ra in block_a:
        match = next((j for j, rb in enumerate(block_b) if j not in used and rb.kind == ra.kind), None)
        if match is None:
            out.append(DiffRow(ONLY_A, ra, None, ra.kind_label))
            continue
        for j in range(len(block_b)):
            if j < match and j not in used:
                used.add(j)
                out.append(DiffRow(ONLY_B, None, block_b[j], block_b[j].kind_label))
        used.add(match)
        rb = block_b[match]
        diffs = step_differences(ra, rb, lang)
        if align_key(ra) != align_key(rb):
            diffs.insert(0, Difference(translator(lang)("request"), ra.path, rb.path))
        out.append(DiffRow(CHANGED if diffs else SAME, ra, rb, ra.kind_label, diffs))
    out.extend(DiffRow(ONLY_B, None, rb, rb.kind_label) for j, rb in enumerate(block_b) if j not in used)
    return out


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
