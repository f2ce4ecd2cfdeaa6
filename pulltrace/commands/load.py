"""The one loader: any file a user hands to `report`, `show`, `diff` or `doctor --capture`.

Whatever the file (mitmproxy flow file, HAR 1.2, pulltrace trace JSON, the addon's
pulltrace.jsonl, a registry, proxy or runtime log, several merged), its exchanges go through
the same pipeline the live addon uses, so every command says the same about the same file,
and a trace written by an older pulltrace is read by today's rules. A file that cannot be
read is one line (`UserError`), never a traceback or a hang.
pulltrace.jsonl files name the node that captured them: each node's traffic is grouped
on its own (two machines' clients are never one pull), and every session names its node.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from pulltrace.capture import jsonl
from pulltrace.capture.importers import Capture, read_capture
from pulltrace.capture.logs import detect, read_log
from pulltrace.errors import UserError
from pulltrace.model import Exchange, Trace
from pulltrace.pipeline import build_trace
from pulltrace.redact import mask_exchange

READS = ("a pulltrace trace JSON, pulltrace.jsonl, a HAR file, a mitmproxy flow file (mitmdump -w) "
         "or a registry/proxy/containerd log")


def check_readable(path: str | os.PathLike[str]) -> Path:
    """`path` if it is a regular file this process can read; else a one-line UserError.

    Checked before opening: a FIFO or a device would block `open()` or stream for ever.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise UserError(f"{p}: no such file") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UserError(f"{p}: a symbolic link loop; give {READS}") from None
        raise UserError(f"{p}: cannot read: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{p}: is a directory; give {READS}")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{p}: not a regular file (a pipe, socket or device); give {READS}")
    if not os.access(p, os.R_OK):
        raise UserError(f"{p}: permission denied")
    if st.st_size == 0:
        raise UserError(f"{p}: empty file; give {READS}")
    return p


def load_trace(paths: Sequence[str | os.PathLike[str]], *, show_secrets: bool = False,
               wanted_platform: str | None = None, log_format: str | None = None) -> Trace:
    """One diagnosed trace from every file in `paths`, merged in wire order.

    Secrets are masked as exchanges are read unless `show_secrets`; `wanted_platform` is
    the platform the client asked for, when the user says so (the wire does not);
    `log_format` reads every file as that log format instead of recognising it.
    """
    if not paths:
        raise UserError(f"no file given; give {READS}")
    nodes: dict[str, list[tuple[str | os.PathLike[str], Capture]]] = {}
    for p in paths:
        path = check_readable(p)
        node = jsonl.node_of(path) if log_format is None and jsonl.is_jsonl(path) else ""
        nodes.setdefault(node, []).append((p, _read(path, show_secrets, log_format)))
    traces = [_node_trace(node, captures, wanted_platform) for node, captures in nodes.items()]
    return traces[0] if len(traces) == 1 else _fleet(traces)


def _node_trace(node: str, captures: list[tuple[str | os.PathLike[str], Capture]],
                wanted_platform: str | None) -> Trace:
    exchanges: list[Exchange] = []
    notes: list[str] = []
    for _, capture in captures:
        exchanges.extend(capture.exchanges)
        notes.extend(n for n in capture.notes if n not in notes)
    if len(captures) > 1 or any(c.source for _, c in captures):
        # A trace JSON holds its steps pull by pull, and files interleave: wire order again.
        exchanges.sort(key=lambda e: e.started_at)
    trace = build_trace(exchanges, source=_source(captures), wanted_platform=wanted_platform)
    trace.notes.extend(notes)
    for session in trace.sessions:
        session.node = node
    return trace


def _fleet(traces: list[Trace]) -> Trace:
    """Several nodes' traces as one: sessions in the order they began, numbered anew."""
    sessions = sorted((s for t in traces for s in t.sessions),
                      key=lambda s: min((st.exchange.started_at for st in s.steps), default=0.0))
    for number, session in enumerate(sessions, start=1):
        session.id = f"s{number}"
    notes = [n for t in traces for n in t.notes]
    return Trace(sessions=sessions, source=", ".join(t.source for t in traces),
                 created_at=max(t.created_at for t in traces), tool_version=traces[0].tool_version,
                 notes=list(dict.fromkeys(notes)))


def _read(path: Path, show_secrets: bool, log_format: str | None = None) -> Capture:
    try:
        if log_format is not None or detect(path) is not None:
            log = read_log(path, fmt=log_format, show_secrets=show_secrets)
            return Capture(list(log.exchanges), notes=log.notes())
        if jsonl.is_jsonl(path):
            exchanges = jsonl.read_exchanges(path)
            return Capture(exchanges if show_secrets else [mask_exchange(ex) for ex in exchanges], "mitmproxy")
        return read_capture(path, show_secrets=show_secrets)
    except UserError:
        raise
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not {READS} ({e})") from None


def _source(captures: list[tuple[str | os.PathLike[str], Capture]]) -> str:
    """What the trace says it came from: a trace JSON's own source, else the file names."""
    return ", ".join(c.source or Path(p).name for p, c in captures)
