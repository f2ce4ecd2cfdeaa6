"""nginx and Apache access logs: combined, common, Harbor's syslog-fed proxy log, the lab's.

One request per line, written when the response ends. What such a line holds is the
request line, status, bytes sent, often the Referer and User-Agent, sometimes the request
and upstream times; never response headers (no challenge, no Location, no digest) and
never bodies. Formats, as nginx's `log_format` spells them:

- combined: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
  "$http_referer" "$http_user_agent"` (Apache's `%h %l %u %t "%r" %>s %b "%{Referer}i"
  "%{User-agent}i"`; common stops after the bytes), optionally followed by
  `$request_time $upstream_response_time` or `key=value` fields (`rt=0.003 urt=0.002`).
- Harbor's proxy (seed 003): `timed_combined` = `$remote_addr - "$request" $status
  $body_bytes_sent "$http_referer" "$http_user_agent" $request_time
  $upstream_response_time $pipe`, written through syslog (`Dec 22 11:56:44 host
  proxy[7494]: …`), so the time is syslog's and carries no year.
- the pulltrace lab's nginx (`pulltrace/lab/conf/nginx.conf.j2`, `log_format lab`):
  `$time_iso8601 $remote_addr $host "$request" $status $body_bytes_sent
  auth=$authorization_state ua="$http_user_agent" rt=$request_time`.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from pulltrace.capture.logs.base import host_placeholder, iso_time, unescape_log_text
from pulltrace.model import Exchange


def _quoted(name: str) -> str:
    return rf'"(?P<{name}>(?:[^"\\]|\\.)*)"'


_SYSLOG = (r"(?P<sysmon>[A-Z][a-z]{2}) {1,2}(?P<sysday>\d{1,2}) (?P<systime>\d\d:\d\d:\d\d) "
           r"(?P<syshost>\S+) (?P<tag>[^\s:\[]+)(?:\[\d+\])?: ")
_SYSLOG_ISO = (r"(?P<sysiso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (?P<isohost>\S+) "
               r"(?P<isotag>[^\s:\[]+)(?:\[\d+\])?: ")
_COMBINED_RE = re.compile(
    rf"^(?:{_SYSLOG}|{_SYSLOG_ISO})?(?P<remote>\S+) (?:(?P<ident>\S+) )?(?:(?P<user>\S+) )?"
    rf"(?:\[(?P<time>[^\]]+)\] )?{_quoted('request')} (?P<status>\d{{3}}) (?P<bytes>\d+|-)"
    rf"(?: {_quoted('referer')} {_quoted('ua')})?(?P<rest>.*)$"
)
_LAB_RE = re.compile(
    r'^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (?P<remote>\S+) (?P<host>\S+) '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?P<rest>(?: \S+=(?:"(?:[^"\\]|\\.)*"|\S*))*)\s*$'
)
_KV_RE = re.compile(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)')
_REQUEST_RE = re.compile(r"^(?P<method>[A-Z][A-Z0-9_-]*) (?P<target>\S+)(?: (?P<proto>HTTP/\d(?:\.\d)?))?$")
_NUMBER_RE = re.compile(r"^\d+\.\d+$")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), start=1)}
# Field names a custom `log_format` commonly gives the times (nginx's own variable names,
# and the short forms of the nginx docs' examples).
_REQUEST_TIME_KEYS = ("rt", "request_time", "rtime")
_USER_AGENT_KEYS = ("ua", "user_agent", "http_user_agent")
_REFERER_KEYS = ("referer", "referrer", "http_referer")


def sniff_combined(line: str) -> bool:
    m = _COMBINED_RE.match(line)
    return bool(m and m.group("sysmon") is None and m.group("sysiso") is None and m.group("time")
                and _REQUEST_RE.match(m.group("request")))


def sniff_syslog(line: str) -> bool:
    m = _COMBINED_RE.match(line)
    return bool(m and (m.group("sysmon") or m.group("sysiso")) and _REQUEST_RE.match(m.group("request")))


def sniff_lab(line: str) -> bool:
    m = _LAB_RE.match(line)
    return bool(m and _REQUEST_RE.match(m.group("request")))


_TIME_LOCAL_RE = re.compile(r"^(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")


@functools.lru_cache(maxsize=64)
def _time_local(text: str) -> float | None:
    """`01/Dec/2026:20:09:24 +0000` (nginx $time_local, Apache %t); cached, as a busy
    log repeats each second many times."""
    m = _TIME_LOCAL_RE.match(text)
    month = _MONTHS.get(m.group(2)) if m else None
    if m is None or month is None:
        return None
    day, year, hh, mm, ss = (int(m.group(i)) for i in (1, 3, 4, 5, 6))
    try:
        stamp = datetime(year, month, day, hh, mm, ss, tzinfo=UTC).timestamp()
    except ValueError:
        return None
    offset = (int(m.group(8)) * 3600 + int(m.group(9)) * 60) * (1 if m.group(7) == "+" else -1)
    return stamp - offset


class AccessLogParser:
    """Turns access-log lines into exchanges; one class for every access-log layout."""

    def __init__(self, path: Path, layout: str) -> None:
        self.file = path.name
        self.layout = layout  # "combined" | "syslog" | "lab"
        self.placeholder = host_placeholder(path)
        self.year: int | None = None
        self.mtime: tuple[int, int] | None = None
        self.second = -1.0
        self.in_second = [0, 0]
        if layout == "syslog":
            # Syslog times carry no year: take the file's modification year (a line later
            # in the calendar than the file's own date is from the year before).
            try:
                stamp = datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC)
            except OSError:
                stamp = datetime.now(UTC)
            self.year, self.mtime = stamp.year, (stamp.month, stamp.day)

    def feed(self, line: str, lineno: int) -> list[Exchange] | None:
        m = (_LAB_RE if self.layout == "lab" else _COMBINED_RE).match(line)
        if m is None:
            return None
        request = _REQUEST_RE.match(unescape_log_text(m.group("request")))
        if request is None:
            return None
        groups = m.groupdict()
        extra = dict(_pairs(groups.get("rest") or ""))
        when = self._time(groups)
        if when is None:
            return None
        headers: list[tuple[str, str]] = []
        ua = groups.get("ua") if groups.get("ua") is not None else _first(extra, _USER_AGENT_KEYS)
        if ua not in (None, "", "-"):
            headers.append(("User-Agent", unescape_log_text(ua)))
        referer = groups.get("referer") if groups.get("referer") is not None else _first(extra, _REFERER_KEYS)
        if referer not in (None, "", "-"):
            headers.append(("Referer", unescape_log_text(referer).strip()))
        # The lab's nginx logs whether Authorization was sent, never its value.
        if extra.get("auth") == "present":
            headers.append(("Authorization", "…"))
        duration = _request_time(extra, groups.get("rest") or "")
        target = request.group("target")
        if "://" in target and not target.startswith(("http://", "https://")):
            return None  # a proxy request for another scheme: not registry traffic
        host = groups.get("host") or self.placeholder
        url = target if "://" in target else f"https://{host}{target if target.startswith('/') else '/' + target}"
        size = groups["bytes"]
        return [Exchange(
            id=f"{self.file}:{lineno}",
            method=request.group("method"),
            url=url,
            started_at=self._place(when, _is_storage_download(target)),
            request_headers=headers,
            status=int(groups["status"]),
            http_version=request.group("proto") or "HTTP/1.1",
            client=groups["remote"],
            response_bytes=int(size) if size.isdigit() else 0,
            duration_ms=duration,
        )]

    def finish(self) -> list[Exchange]:
        return []

    def _place(self, second: float, late: bool) -> float:
        """Where a line logged in `second` goes on the time line.

        The log says only which second the response ended in. Lines of one second keep
        the log's order (1 µs apart, so no later sort can swap them) in the middle of that
        second; a download from storage (a path naming a digest outside /v2/) goes at its
        end, as it follows a registry's redirect that another log may show in that second.
        """
        if second != self.second:
            self.second, self.in_second = second, [0, 0]
        tier = 1 if late else 0
        # Late ones in the last 2 ms of the second: a finer log's redirect that led to the
        # download started before the download ended, so almost surely before that.
        n = self.in_second[tier] = min(self.in_second[tier] + 1, 1_999 if late else 99_999)
        return second + (0.998 if late else 0.5) + n * 1e-6

    def _time(self, groups: dict[str, str | None]) -> float | None:
        if groups.get("time"):
            text = groups["time"] or ""
            return iso_time(text) if self.layout == "lab" else _time_local(text)
        if groups.get("sysiso"):
            return iso_time(groups["sysiso"] or "")
        if groups.get("sysmon"):
            month = _MONTHS.get(groups["sysmon"] or "")
            if month is None:
                return None
            day = int(groups["sysday"] or 0)
            year = self.year or datetime.now(UTC).year
            if self.mtime is not None and (month, day) > self.mtime:
                year -= 1
            try:
                stamp = datetime.strptime(f"{year} {month} {day} {groups['systime']}", "%Y %m %d %H:%M:%S")
            except ValueError:
                return None
            return stamp.replace(tzinfo=UTC).timestamp()
        return None


_STORAGE_DIGEST_RE = re.compile(r"sha256[:/]")
_API_DIGEST_RE = re.compile(r"/(?:blobs|manifests)/[a-z0-9]+:")


def _is_storage_download(target: str) -> bool:
    """A path naming a digest that is not the registry API's `/blobs/<digest>` (distribution's
    storage layout `/docker/registry/v2/blobs/sha256/<2>/<hex>/data`, a CDN's copy of it)."""
    path = target.split("?", 1)[0]
    return bool(_STORAGE_DIGEST_RE.search(path)) and not _API_DIGEST_RE.search(path)


def _pairs(rest: str) -> list[tuple[str, str]]:
    out = []
    for key, value in _KV_RE.findall(rest):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        out.append((key.lower(), value))
    return out


def _first(extra: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in extra:
            return extra[key]
    return None


def _request_time(extra: dict[str, str], rest: str) -> float | None:
    """$request_time (seconds, millisecond resolution) as milliseconds: a `rt=` field, or
    the first bare decimal after the quoted fields (Harbor's timed_combined)."""
    value = _first(extra, _REQUEST_TIME_KEYS)
    if value is None:
        for token in rest.split():
            if "=" in token:
                continue
            if _NUMBER_RE.match(token):
                value = token
            break
    if value is None or not _NUMBER_RE.match(value) and not value.isdigit():
        return None
    return round(float(value) * 1000.0, 3)
