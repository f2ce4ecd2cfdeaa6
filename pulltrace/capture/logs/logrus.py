"""logrus lines, text or JSON: the log format of distribution, containerd and dockerd.

Text (logrus.TextFormatter without colours): `time="2026-12-01T20:09:24.98Z" level=info
msg="response completed" key=value key="quoted value" …`, values quoted Go-style when they
hold spaces or quotes. JSON (logrus.JSONFormatter): one object per line with `time`,
`level`, `msg` and the same keys; the logstash formatter names them `@timestamp` and
`message`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pulltrace.capture.logs.base import iso_time

_PAIR_RE = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_TEXT_START_RE = re.compile(r'^time="[^"]*" level=[a-z]+ ')


@dataclass
class Entry:
    """One logrus line: when, how severe, the message and its fields (all as strings)."""

    time: float
    level: str
    msg: str
    fields: dict[str, str]


def is_text(line: str) -> bool:
    return bool(_TEXT_START_RE.match(line))


def is_json(line: str) -> bool:
    if not line.startswith("{"):
        return False
    return parse_json(line) is not None


def _go_unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    if "\\" not in value:
        return value[1:-1]
    try:
        # Go's strconv.Quote is JSON's escaping plus \x, \a, \v and \U, which logs rarely hold.
        text = json.loads(value)
        return text if isinstance(text, str) else value[1:-1]
    except ValueError:
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def parse_text(line: str) -> Entry | None:
    """A logrus text line, or None if it is not one (a Go panic, a combined access line)."""
    if not line.startswith("time="):
        return None
    pairs = _PAIR_RE.findall(line)
    # Every byte must belong to a pair or the spaces between them, or it is not logrus
    # (a Go panic, a combined access line that starts with a time= by chance).
    if sum(len(k) + len(v) + 1 for k, v in pairs) + len(pairs) - 1 != len(line.rstrip()):
        return None
    fields = {k: _go_unquote(v) for k, v in pairs}
    return _entry(fields, "time", "msg")


def parse_json(line: str) -> Entry | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = {str(k): _text(v) for k, v in data.items()}
    if "@timestamp" in fields:
        return _entry(fields, "@timestamp", "message")
    return _entry(fields, "time", "msg")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _entry(fields: dict[str, str], time_key: str, msg_key: str) -> Entry | None:
    when = iso_time(fields.pop(time_key, ""))
    if when is None or "level" not in fields:
        return None
    return Entry(when, fields.pop("level"), fields.pop(msg_key, ""), fields)


def parse_any(line: str) -> Entry | None:
    return parse_json(line) if line.startswith("{") else parse_text(line)
