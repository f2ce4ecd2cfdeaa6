"""Recorded lab pulls, replayed: re-timed, from another client address, with fresh ids.

The recordings in tests/data/engine are real exchanges captured in the lab (docker, skopeo,
podman, ctr through mitmdump), frozen here so grouping tests do not move when samples do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pulltrace.model import Exchange, exchange_from_dict

DATA = Path(__file__).resolve().parents[2] / "data" / "engine"


def recording(name: str) -> list[Exchange]:
    return [exchange_from_dict(d) for d in json.loads((DATA / f"{name}.json").read_text())]


def replay(exchanges: list[Exchange], *, at: float, tag: str, client: str | None = None,
           edit: Callable[[Exchange], Exchange | None] | None = None) -> list[Exchange]:
    """The same exchanges starting at `at`, ids prefixed with `tag`, from `client` (its
    port kept), each passed through `edit` (None drops it)."""
    start = min(ex.started_at for ex in exchanges)
    out = []
    for ex in exchanges:
        port = ex.client.rsplit(":", 1)[-1]
        moved = replace(ex, id=f"{tag}-{ex.id}", started_at=at + (ex.started_at - start),
                        client=f"{client}:{port}" if client else ex.client,
                        request_headers=list(ex.request_headers), response_headers=list(ex.response_headers))
        edited = edit(moved) if edit else moved
        if edited is not None:
            out.append(edited)
    return out


def with_request_header(ex: Exchange, name: str, value: str | None) -> Exchange:
    """`ex` with request header `name` set to `value` (removed for None)."""
    headers = [(k, v) for k, v in ex.request_headers if k.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return replace(ex, request_headers=headers)


def first_pull(exchanges: list[Exchange], repository: str) -> list[Exchange]:
    """The exchanges of a two-pull recording that belong to the pull of `repository`
    (split on the second ping, which starts the second pull)."""
    pings = [i for i, ex in enumerate(exchanges) if ex.url.endswith("/v2/")]
    cut = pings[1] if len(pings) > 1 else len(exchanges)
    first, second = exchanges[:cut], exchanges[cut:]
    return first if any(f"/{repository}/" in ex.url or repository.replace("/", "%2F") in ex.url
                        for ex in first if "/manifests/" in ex.url) else second
