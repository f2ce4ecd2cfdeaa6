"""The "why slow" rows: one per blob body a pull downloaded, with the host that served it, what
its cache said, and where its time went. Built once from `pulltrace.timing`; the text,
Markdown and HTML views lay the same rows out. A blob the doctor's speed rules named (a layer
far slower than its peers, a miss that cost most of the pull, a connection slow to open)
carries that finding's mark, so every view highlights the same row the findings talk about."""

from __future__ import annotations

from dataclasses import dataclass

from pulltrace.model import Session
from pulltrace.render import fmt
from pulltrace.render.i18n import Translate, translator
from pulltrace.timing import BlobDelivery, blob_deliveries, layer_number

# The doctor's speed rules (diagnose/speed.py) and the mark each puts on the blob it names.
_FLAGS = {"speed.slow-layer": "flag_slow", "speed.cache-miss": "flag_costly_miss",
          "speed.slow-connect": "flag_slow_connect"}
_PHASES = ("connect", "tls", "wait", "transfer")


@dataclass(frozen=True)
class PhaseRow:
    """One phase of a download's time, for the split bar: its share of the recorded phases."""

    key: str
    label: str
    time: str
    pct: str


@dataclass(frozen=True)
class DeliveryRow:
    """One downloaded blob, every value already a display string ("" when not recorded)."""

    number: int | None
    anchor: str
    blob: str
    host: str
    redirected_from: str
    cache: str
    cache_headers: str
    size: str
    time: str
    connect: str
    tls: str
    wait: str
    transfer: str
    throughput: str
    is_layer: bool
    digest: str = ""
    verdict: str = ""          # hit / miss / bypass / "" (no header said), for styling
    phases: tuple[PhaseRow, ...] = ()
    # The connection's setup done before the request started, as a sentence ("" when none):
    # not in the split, so a user who sees no connect phase knows where it went.
    setup_early: str = ""
    flags: tuple[str, ...] = ()   # "slow", "cache miss": the doctor's speed findings on this blob
    flag_titles: str = ""         # those findings' titles, for a tooltip

    @property
    def flag(self) -> str:
        """The marks as one label (`slow · cache miss`), "" when no speed finding names this blob."""
        return " · ".join(self.flags)


def rate(bps: float | None) -> str:
    """`4.0 MiB/s`; "" when unknown."""
    return f"{fmt.human_bytes(int(bps))}/s" if bps else ""


def _ms(ms: float | None) -> str:
    return fmt.human_ms(ms) if ms is not None else ""


def _blob_label(d: BlobDelivery, t: Translate) -> str:
    n = layer_number(d.role)
    if n:
        return t("role_layer_n", n=n[0], total=n[1])
    return t("role_config") if d.role == "config" else t("layer")


def _cache_label(d: BlobDelivery, t: Translate) -> str:
    if not d.step.exchange.response_headers:
        return t("cache_not_recorded")  # an access log keeps no response headers: unknown, not absent
    if not d.cache.headers:
        return t("cache_none")
    label = t(f"cache_{d.cache.verdict}") if d.cache.verdict else t("cache_unknown")
    return f"{label} ({d.cache.pop})" if d.cache.pop else label


def _setup_cell(inside: float | None, early: float | None, t: Translate) -> str:
    """`12 ms`, `1.31 s before the request`, or both joined by `+` when the setup straddled the request's start."""
    parts = [fmt.human_ms(inside)] if inside is not None else []
    if early is not None:
        parts.append(t("phase_early", time=fmt.human_ms(early)))
    return " + ".join(parts)


def _setup_early(d: BlobDelivery, t: Translate) -> str:
    """The sentence under the split bar saying where a missing connect or TLS phase went."""
    split = d.split
    named = [t(key, time=fmt.human_ms(ms)) for key, ms in (("early_connect", split.early_connect_ms),
                                                          ("early_tls", split.early_tls_ms)) if ms is not None]
    return t("setup_early", phases=", ".join(named)) if named else ""


def _phases(d: BlobDelivery, t: Translate) -> tuple[PhaseRow, ...]:
    split = d.split
    values = dict(zip(_PHASES, (split.connect_ms, split.tls_ms, split.wait_ms, split.transfer_ms), strict=True))
    total = sum(v for v in values.values() if v)
    if total <= 0:
        return ()
    return tuple(PhaseRow(key, t(key), fmt.human_ms(ms), f"{100.0 * ms / total:.1f}")
                 for key, ms in values.items() if ms is not None)


def _flags(session: Session, t: Translate) -> dict[str, list[tuple[str, str]]]:
    """Step id → (mark, title) of each speed finding naming it."""
    out: dict[str, list[tuple[str, str]]] = {}
    for f in session.findings:
        key = _FLAGS.get(f.rule)
        if key:
            for step_id in f.steps:
                out.setdefault(step_id, []).append((t(key), f.title))
    return out


def delivery_rows(session: Session, anchors: dict[str, tuple[str, int]], *, lang: str = "en") -> list[DeliveryRow]:
    """The session's downloaded blobs in step order; `anchors` maps exchange ids to (anchor, step number)."""
    t = translator(lang)
    flagged = _flags(session, t)
    rows = []
    for d in blob_deliveries(session):
        anchor, number = anchors.get(d.step.id, ("", None))
        marks = flagged.get(d.step.id, [])
        rows.append(DeliveryRow(
            number=number,
            anchor=anchor,
            blob=_blob_label(d, t),
            host=d.host,
            redirected_from=d.redirected_from or "",
            cache=_cache_label(d, t),
            cache_headers=" · ".join(f"{k}: {v}" for k, v in d.cache.headers),
            size=fmt.human_bytes(d.bytes),
            time=_ms(d.time_ms),
            connect=_setup_cell(d.split.connect_ms, d.split.early_connect_ms, t),
            tls=_setup_cell(d.split.tls_ms, d.split.early_tls_ms, t),
            wait=_ms(d.split.wait_ms),
            transfer=_ms(d.split.transfer_ms),
            throughput=rate(d.throughput),
            is_layer=d.is_layer,
            digest=d.digest or "",
            verdict=d.cache.verdict,
            phases=_phases(d, t),
            setup_early=_setup_early(d, t),
            flags=tuple(dict.fromkeys(mark for mark, _ in marks)),
            flag_titles=" · ".join(title for _, title in marks),
        ))
    return rows
