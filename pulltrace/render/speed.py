"""The "why slow" rows: one per blob body a pull downloaded, with the host that served it, what
its cache said, and where its time went. Built once from `pulltrace.timing`; the text,
Markdown and HTML views lay the same rows out."""

from __future__ import annotations

from dataclasses import dataclass

from pulltrace.model import Session
from pulltrace.render import fmt
from pulltrace.render.i18n import Translate, translator
from pulltrace.timing import BlobDelivery, blob_deliveries, layer_number


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


def delivery_rows(session: Session, anchors: dict[str, tuple[str, int]], *, lang: str = "en") -> list[DeliveryRow]:
    """The session's downloaded blobs in step order; `anchors` maps exchange ids to (anchor, step number)."""
    t = translator(lang)
    rows = []
    for d in blob_deliveries(session):
        anchor, number = anchors.get(d.step.id, ("", None))
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
            connect=_ms(d.split.connect_ms),
            tls=_ms(d.split.tls_ms),
            wait=_ms(d.split.wait_ms),
            transfer=_ms(d.split.transfer_ms),
            throughput=rate(d.throughput),
            is_layer=d.is_layer,
        ))
    return rows
