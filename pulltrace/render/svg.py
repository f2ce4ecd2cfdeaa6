"""The sequence diagram of a session as geometry: lanes and arrows with
coordinates. The HTML template draws it as inline SVG (escaped like any text),
so no diagram service and no markup assembled here."""

from __future__ import annotations

from dataclasses import dataclass

from pulltrace.render import fmt
from pulltrace.render.i18n import translator
from pulltrace.render.rows import SessionView

LANE_GAP = 230
MARGIN_X = 112
TOP = 64
ROW = 46
CHAR_PX = 6.6  # monospace 11px
MAX_STEPS = 150  # beyond this a diagram stops teaching; the table has every step
_ROLE_ORDER = {"client": 0, "registry": 1, "auth": 2, "cdn": 3, "other": 4}


@dataclass(frozen=True)
class Lane:
    key: str
    role: str
    title: str
    host: str
    x: int


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


def sequence(session: SessionView, *, lang: str = "en", limit: int = MAX_STEPS) -> Diagram:
    """Lanes: the client, then each (role, host) in protocol order: registries,
    auth services, CDNs. One request/response pair of arrows per step."""
    t = translator(lang)
    steps = session.steps[:limit]
    keys: list[str] = []
    for r in steps:
        if r.lane not in keys:
            keys.append(r.lane)
    first_seen = {k: i for i, k in enumerate(keys)}
    keys.sort(key=lambda k: (_ROLE_ORDER.get(k.split("|", 1)[0], 9), first_seen[k]))
    client_label = session.client or t("lane_client")
    lanes = [Lane("client", "client", t("lane_client"), client_label, MARGIN_X)]
    for i, key in enumerate(keys, 1):
        role, _, host = key.partition("|")
        lanes.append(Lane(key, role, t(f"lane_{role}"), host, MARGIN_X + i * LANE_GAP))
    x_of = {lane.key: lane.x for lane in lanes}
    right = lanes[-1].x + 90
    arrows = []
    for i, r in enumerate(steps):
        x2 = x_of[r.lane]
        # A request label sits above its arrow and may run past a short arrow's
        # end, over the lanes beyond it, up to the right edge of the diagram.
        chars = int((max(x2, right) - MARGIN_X - 16) / CHAR_PX)
        label = f"{r.number} {r.method} " + fmt.fit_url(r.url, max(12, chars - len(r.method) - 4), base_host=r.host)
        arrows.append(
            Arrow(
                number=r.number,
                anchor=r.anchor,
                kind=r.kind,
                y=TOP + 20 + i * ROW,
                x1=MARGIN_X,
                x2=x2,
                request=label,
                response=fmt.middle(r.status_text or (r.error or "—"), max(8, int((x2 - MARGIN_X - 16) / CHAR_PX))),
                status_class=status_class(r.status),
                text_x=MARGIN_X + 8,
                text_anchor="start",
            )
        )
    caption = ""
    if len(session.steps) > limit:
        caption = t("sequence_truncated", shown=limit, total=len(session.steps))
    width = MARGIN_X + (len(lanes) - 1) * LANE_GAP + MARGIN_X + 40
    height = TOP + 20 + len(steps) * ROW + 10
    return Diagram(width, height, lanes, arrows, len(session.steps), caption)
