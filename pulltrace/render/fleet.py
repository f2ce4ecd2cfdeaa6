"""The fleet view: many nodes' pulls side by side, as text or Markdown.

`pulltrace report a.jsonl b.jsonl …` (one pulltrace.jsonl per node or mirror) answers
what a platform team asks of a fleet: which node pulls slowly, which image, which
serving host refuses or throttles, which layers take longest, and which pulls failed and
why. The rows are built first (`fleet_view`), then tabulated; both views read the same
rows, and every fact about a pull comes from `pulltrace.sinks.facts`, as the metrics do.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

from tabulate import tabulate

from pulltrace.model import Session, StepKind, Trace
from pulltrace.render import fmt
from pulltrace.render.markdown import md_text
from pulltrace.sinks import facts

SLOWEST_LAYERS = 10
UNKNOWN_NODE = "(unnamed)"
# Status columns of the serving-host table: what a fleet operator acts on.
STATUS_COLUMNS = ("2xx", "3xx", "401", "403", "404", "429", "4xx", "5xx", "none")


@dataclass
class NodeRow:
    node: str
    pulls: int = 0
    failed: int = 0
    images: set[str] = field(default_factory=set)
    bytes: int = 0
    durations_s: list[float] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")


@dataclass
class ImageRow:
    image: str
    pulls: int = 0
    failed: int = 0
    nodes: set[str] = field(default_factory=set)
    bytes: int = 0
    durations_s: list[float] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")


@dataclass
class HostRow:
    host: str
    requests: int = 0
    bytes: int = 0
    nodes: set[str] = field(default_factory=set)
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class LayerRow:
    node: str
    image: str
    digest: str
    index: int | None
    host: str
    bytes: int
    duration_ms: float
    session: str


@dataclass(frozen=True)
class FailureRow:
    node: str
    session: str
    image: str
    registry: str
    what: str
    findings: list[tuple[str, str, str]]  # (severity, title, fix)


@dataclass
class FleetView:
    pulls: int
    failed: int
    start: float
    end: float
    nodes: list[NodeRow]
    images: list[ImageRow]
    hosts: list[HostRow]
    layers: list[LayerRow]
    failures: list[FailureRow]


def node_name(session: Session) -> str:
    return session.node or UNKNOWN_NODE


def nodes_of(trace: Trace) -> list[str]:
    """The nodes a trace's sessions name, in order of first appearance (fleet report or not)."""
    return list(dict.fromkeys(s.node for s in trace.sessions if s.node))


def fleet_view(trace: Trace) -> FleetView:
    """Every row of the fleet view, from the finished pulls of `trace`."""
    nodes: dict[str, NodeRow] = {}
    images: dict[str, ImageRow] = {}
    hosts: dict[str, HostRow] = {}
    layers: list[LayerRow] = []
    failures: list[FailureRow] = []
    starts, ends = [], []
    pulls = failed = 0
    for session in trace.sessions:
        node = node_name(session)
        start, end = facts.session_bounds(session)
        if session.steps:
            starts.append(start)
            ends.append(end)
        for step in session.steps:
            ex = step.exchange
            host = hosts.setdefault(facts.serving_host(ex), HostRow(facts.serving_host(ex)))
            host.requests += 1
            host.bytes += ex.response_bytes or 0
            host.nodes.add(node)
            host.statuses[facts.status_class(ex.status)] += 1
        if not facts.is_pull(session):
            continue
        pulls += 1
        image = session.summary.image or session.summary.registry or "?"
        duration = max(0.0, end - start)
        result = facts.pull_result(session)
        n = nodes.setdefault(node, NodeRow(node))
        i = images.setdefault(image, ImageRow(image))
        for row, label in ((n, image), (i, node)):
            row.pulls += 1
            row.bytes += session.summary.bytes
            row.durations_s.append(duration)
            if duration >= row.slowest[0]:
                row.slowest = (duration, label)
        n.images.add(image)
        i.nodes.add(node)
        if result == facts.FAILED:
            failed += 1
            n.failed += 1
            i.failed += 1
            failures.append(_failure(session, node, image))
        layers.extend(_layers(session, node, image))
    layers.sort(key=lambda r: (-r.duration_ms, r.node, r.digest))
    return FleetView(
        pulls=pulls, failed=failed,
        start=min(starts) if starts else 0.0, end=max(ends) if ends else 0.0,
        nodes=sorted(nodes.values(), key=lambda r: r.node),
        images=sorted(images.values(), key=lambda r: (-r.pulls, r.image)),
        hosts=sorted(hosts.values(), key=lambda r: (-r.bytes, r.host)),
        layers=layers[:SLOWEST_LAYERS],
        failures=failures,
    )


def _layers(session: Session, node: str, image: str) -> list[LayerRow]:
    """Layer bodies that arrived (a redirected layer is counted where its bytes came from)."""
    positions = facts.layer_positions(session)
    out = []
    for step in session.steps:
        ex = step.exchange
        digest = facts.step_digest(step)
        if step.kind not in (StepKind.LAYER_BLOB, StepKind.CDN_DOWNLOAD) or digest is None:
            continue
        if step.kind is StepKind.CDN_DOWNLOAD and positions and digest not in positions:
            continue  # the config blob, fetched from the CDN
        if ex.status is None or not 200 <= ex.status < 300 or not ex.response_bytes:
            continue
        out.append(LayerRow(node, image, digest, positions.get(digest), facts.serving_host(ex),
                            ex.response_bytes, float(ex.duration_ms or 0.0), session.id))
    return out


def _failure(session: Session, node: str, image: str) -> FailureRow:
    errors = [f"{s.exchange.method} {fmt.path_of(s.exchange.url)} → "
              f"{s.exchange.status if s.exchange.status is not None else s.exchange.error or 'no response'}"
              for s in session.steps if s.exchange.error or (s.exchange.status or 0) >= 400]
    what = errors[-1] if errors else "no manifest was answered"
    return FailureRow(node, session.id, image, session.summary.registry, what,
                      [(str(f.severity), f.title, f.fix) for f in session.findings])


# -- text ---------------------------------------------------------------------------------
def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else "?"


def _median_s(values: list[float]) -> str:
    return fmt.human_ms(statistics.median(values) * 1000) if values else ""


def _slowest(row: NodeRow | ImageRow) -> str:
    return f"{fmt.human_ms(row.slowest[0] * 1000)} ({row.slowest[1]})" if row.durations_s else ""


def _rate(row: LayerRow) -> str:
    if row.duration_ms <= 0:
        return ""
    return f"{fmt.human_bytes(int(row.bytes / (row.duration_ms / 1000)))}/s"


def _tables(view: FleetView) -> list[tuple[str, list[str], list[list[str]]]]:
    nodes = [[r.node, str(r.pulls), str(r.failed), str(len(r.images)), fmt.human_bytes(r.bytes),
              _median_s(r.durations_s), _slowest(r)] for r in view.nodes]
    images = [[r.image, str(r.pulls), str(r.failed), str(len(r.nodes)), fmt.human_bytes(r.bytes),
               _median_s(r.durations_s), _slowest(r)] for r in view.images]
    hosts = [[r.host, str(r.requests), fmt.human_bytes(r.bytes), str(len(r.nodes)),
              *[str(r.statuses.get(c, 0) or "") for c in STATUS_COLUMNS]]
             for r in view.hosts]
    layers = [[r.node, r.image, fmt.short_digest(r.digest), "" if r.index is None else str(r.index), r.host,
               fmt.human_bytes(r.bytes), fmt.human_ms(r.duration_ms), _rate(r)] for r in view.layers]
    return [
        ("Per node", ["node", "pulls", "failed", "images", "bytes", "median", "slowest pull"], nodes),
        ("Per image", ["image", "pulls", "failed", "nodes", "bytes", "median", "slowest pull"], images),
        ("Per serving host", ["host", "requests", "bytes", "nodes", *STATUS_COLUMNS], hosts),
        ("Slowest layers", ["node", "image", "layer", "#", "host", "size", "time", "rate"], layers),
    ]


def _headline(view: FleetView) -> str:
    names = ", ".join(r.node for r in view.nodes)
    return (f"{view.pulls} pull{'s' if view.pulls != 1 else ''} on {len(view.nodes)} "
            f"node{'s' if len(view.nodes) != 1 else ''} ({names}), {len(view.images)} "
            f"image{'s' if len(view.images) != 1 else ''}, {view.failed} failed; "
            f"{_utc(view.start)} to {_utc(view.end)}")


def render_fleet_text(trace: Trace) -> str:
    """The fleet view as plain text tables."""
    view = fleet_view(trace)
    out = ["Fleet", "=====", _headline(view), ""]
    for title, headers, rows in _tables(view):
        out += [title, "-" * len(title)]
        out.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) if rows else "(none)")
        out.append("")
    out += ["Failures", "--------"]
    if not view.failures:
        out.append("(none)")
    for f in view.failures:
        out.append(f"{f.node} {f.session}: {f.image} from {f.registry or '?'}: {f.what}")
        for severity, title, fix in f.findings:
            out.append(f"  {severity}: {title}")
            if fix:
                out.append(f"    fix: {fix}")
    return "\n".join(out).rstrip() + "\n"


def render_fleet_markdown(trace: Trace) -> str:
    """The fleet view as Markdown tables (every cell escaped: registry text is untrusted)."""
    view = fleet_view(trace)
    out = ["# Fleet", "", md_text(_headline(view)), ""]
    for title, headers, rows in _tables(view):
        out += [f"## {title}", ""]
        if not rows:
            out += ["(none)", ""]
            continue
        out.append("| " + " | ".join(md_text(h) for h in headers) + " |")
        out.append("|" + "|".join("---" for _ in headers) + "|")
        out += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
        out.append("")
    out += ["## Failures", ""]
    if not view.failures:
        out.append("(none)")
    for f in view.failures:
        out.append(f"- **{md_text(f.node)} {md_text(f.session)}**: {md_text(f.image)} from "
                   f"{md_text(f.registry or '?')}: {md_text(f.what)}")
        for severity, title, fix in f.findings:
            out.append(f"  - {md_text(severity)}: {md_text(title)}" + (f" (fix: {md_text(fix)})" if fix else ""))
    return "\n".join(out).rstrip() + "\n"
