"""Reading whatever file a user hands to `show` or `diff`: trace JSON, or a
mitmproxy flow file / HAR that the capture importers turn into a trace."""

from __future__ import annotations

import json
from pathlib import Path

from pulltrace.errors import UserError
from pulltrace.model import SCHEMA_NAME, Trace, TraceFormatError


def load_any(path: str | Path) -> Trace:
    """A Trace from trace JSON, a HAR or a flow file; a UserError says what is wrong."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if p.is_dir():
        raise UserError(f"{p}: is a directory; give a trace JSON, HAR or mitmproxy flow file")
    data = _json_or_none(p)
    if isinstance(data, dict) and data.get("schema") == SCHEMA_NAME:
        try:
            return Trace.from_dict(data)
        except TraceFormatError as e:
            raise UserError(f"{p}: {e}") from e
    return _import(p)


def _json_or_none(p: Path) -> object:
    try:
        with p.open("rb") as f:
            head = f.read(1).lstrip()
            if head not in (b"{", b"["):
                return None
        return json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    except OSError as e:
        raise UserError(f"{p}: cannot read: {e.strerror}") from e


def _import(p: Path) -> Trace:
    # Imported here: a trace JSON shows without loading mitmproxy's flow reader.
    from pulltrace.capture.importers import load_exchanges
    from pulltrace.pipeline import build_trace

    try:
        exchanges = load_exchanges(p)
    except (ValueError, OSError, KeyError, TypeError) as e:
        raise UserError(
            f"{p}: not a pulltrace trace, HAR or mitmproxy flow file ({e}); "
            "record one with `pulltrace report` or `pulltrace pull`"
        ) from e
    return build_trace(exchanges, source=p.name)
