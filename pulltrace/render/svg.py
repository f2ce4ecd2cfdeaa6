"""The sequence diagram of a session as geometry: lanes and arrows with
coordinates. The HTML template draws it as inline SVG (escaped like any text),
so no diagram service and no markup assembled here."""

from __future__ import annotations

from dataclasses import dataclass

from pulltrace.render import fmt
from pulltrace.render.i18n import translator
from pulltrace.render.rows import SessionView

LANE_GAP = 230  # the least room between two lifelines (a lane box is 200 wide)
MAX_GAP = 420  # the most (a manifest of library/tiny-plus by digest fits whole): wider prints too small
MARGIN_X = 112
TOP = 64
ROW = 46
CHAR_PX = 6.62  # monospace 11px (0.602 em)
LANE_CHARS = 29  # monospace 10.5px in a 200px lane box
HEAD_PX = 9.1  # arrowhead length: a 7-unit marker on a 1.3px stroke
PAD_PX = 8  # text start after the client's lifeline
CLEAR_PX = 6  # space between a label and an arrowhead
MAX_STEPS = 150  # beyond this a diagram stops teaching; the table has every step
_ROLE_ORDER = {"client": 0, "registry": 1, "auth": 2, "cdn": 3, "other": 4}


@dataclass(frozen=True)
class Lane:
    key: str
    role: str
    title: str
    host: str
    x: int
    label: str = ""  # what the lane box shows: host or short client name, fitted
    tooltip: str = ""  # the whole of it


@dataclass(frozen=True)
class Arrow:
    number: int
    anchor: str
    kind: str
    y: int
    x1: int
    x2: int
    request: str
    response: str
    status_class: str
    text_x: int
    text_anchor: str
    tooltip: str = ""  # the whole request line and status the labels abbreviate
    response_x: int = 0  # where the right-aligned response label ends


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    lanes: list[Lane]
    arrows: list[Arrow]
    total_steps: int
    caption: str


def status_class(status: int | None) -> str:
    if status is None:
        return "s-err"
    return f"s{status // 100}xx"


def request_label(number: int, method: str, url: str, host: str, chars: int) -> str:
    """`4 GET /v2/library/multi/manifests/sha256:1140c1246c2c…` in at most `chars`
    characters: digests always at 12 hex (as in the tables), the lane's own host left
    out, a long path cut in the middle."""
    head = f"{number} {method} "
    return head + fmt.fit_url(fmt.short_digest(url), max(8, chars - len(head)), base_host=host)


def _chars(span_px: float) -> int:
    return max(0, int(span_px / CHAR_PX))


def _request_room(x1: int, x2: int) -> float:
    # From just after the client's lifeline to just before the arrowhead at x2.
    return x2 - x1 - PAD_PX - HEAD_PX - CLEAR_PX


def _response_room(x1: int, x2: int) -> float:
    # Right-aligned short of the request arrowhead above it; clear of the response
    # arrowhead at the client's lifeline.
    return x2 - x1 - 2 * (HEAD_PX + CLEAR_PX)


def _lane_xs(keys: list[str], steps: list) -> dict[str, int]:
    """Lifeline positions: each lane as far right as its longest label needs (the
    labels to a lane run from the client to it), between LANE_GAP and MAX_GAP."""
    xs: dict[str, int] = {}
    x = MARGIN_X
    for key in keys:
        need = 0.0
        for r in steps:
            if r.lane == key:
                full = request_label(r.number, r.method, r.url, r.host, 10_000)
                need = max(need, len(full) * CHAR_PX + PAD_PX + HEAD_PX + CLEAR_PX,
                           len(r.status_text or r.error or "—") * CHAR_PX + 2 * (HEAD_PX + CLEAR_PX))
        gap = min(MAX_GAP, max(LANE_GAP, int(need + 0.999) - (x - MARGIN_X)))
        x += gap
        xs[key] = x
    return xs


def sequence(session: SessionView, *, lang: str = "en", limit: int = MAX_STEPS) -> Diagram:
    """Lanes: the client, then each (role, host) in protocol order: registries,
    auth services, CDNs. One request/response pair of arrows per step; every label
    fits between the client and its own lane, the whole text in a tooltip."""
    t = translator(lang)
    steps = session.steps[:limit]
    keys: list[str] = []
    for r in steps:
        if r.lane not in keys:
            keys.append(r.lane)
    first_seen = {k: i for i, k in enumerate(keys)}
    keys.sort(key=lambda k: (_ROLE_ORDER.get(k.split("|", 1)[0], 9), first_seen[k]))
    x_of = _lane_xs(keys, steps)
    client = session.client or t("lane_client")
    lanes = [Lane("client", "client", t("lane_client"), client, MARGIN_X,
                  label=fmt.middle(fmt.short_client(client), LANE_CHARS), tooltip=session.user_agent or client)]
    for key in keys:
        role, _, host = key.partition("|")
        lanes.append(Lane(key, role, t(f"lane_{role}"), host, x_of[key],
                          label=fmt.middle(host, LANE_CHARS), tooltip=host))
    x_of["client"] = MARGIN_X
    arrows = []
    for i, r in enumerate(steps):
        x2 = x_of[r.lane]
        response = r.status_text or (r.error or "—")
        arrows.append(
            Arrow(
                number=r.number,
                anchor=r.anchor,
                kind=r.kind,
                y=TOP + 20 + i * ROW,
                x1=MARGIN_X,
                x2=x2,
                request=request_label(r.number, r.method, r.url, r.host, _chars(_request_room(MARGIN_X, x2))),
                response=fmt.middle(response, _chars(_response_room(MARGIN_X, x2))),
                status_class=status_class(r.status),
                text_x=MARGIN_X + PAD_PX,
                text_anchor="start",
                tooltip=f"{r.number}. {r.request_line}\n{response}",
                response_x=int(x2 - HEAD_PX - CLEAR_PX),
            )
        )
    caption = ""
    if len(session.steps) > limit:
        caption = t("sequence_truncated", shown=limit, total=len(session.steps))
    width = lanes[-1].x + 100 + 12  # the last lane box, and a margin like the first one's
    height = TOP + 20 + len(steps) * ROW + 10
    return Diagram(width, height, lanes, arrows, len(session.steps), caption)
