"""URLs from the wire, split without surprises.

`urllib.parse.urlsplit` raises ValueError for an unclosed `[` and for a netloc that
changes under NFKC normalisation, and `.port` raises for `host:abc` or `host:99999` —
late, wherever a caller first asks. `split_url` asks everything at once and raises one
`InvalidURL` with a one-line message; `host_port` and `join_url` never raise. Userinfo
(`https://user:pass@host/`) is kept apart from the host so no view shows it by accident.
This module imports only `errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from pulltrace.errors import UserError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidURL(UserError, ValueError):
    """A URL that cannot be split (bad port, unclosed `[`); the message quotes it, bounded."""


@dataclass(frozen=True)
class URLParts:
    """A URL's parts; `host` is lowercase, without brackets or userinfo."""

    scheme: str
    userinfo: str | None
    host: str
    port: int | None
    path: str
    query: str
    fragment: str

    @property
    def authority(self) -> str:
        """host[:port] as a request would name it: IPv6 bracketed, default ports dropped."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is None or _DEFAULT_PORTS.get(self.scheme) == self.port:
            return host
        return f"{host}:{self.port}"


def _shown(url: str) -> str:
    return repr(url) if len(url) <= 100 else repr(url[:100]) + "…"


def split_url(url: str) -> URLParts:
    """Split `url`, or raise InvalidURL saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError as e:
        raise InvalidURL(f"invalid URL {_shown(url)}: {' '.join(str(e).split())}") from None
    userinfo = None
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
    return URLParts(
        scheme=parts.scheme.lower(),
        userinfo=userinfo,
        host=host,
        port=port,
        path=parts.path,
        query=parts.query,
        fragment=parts.fragment,
    )


def join_url(base: str, location: str) -> str:
    """A Location (or any reference) resolved against the URL it came with; as sent when it
    cannot be (`https://[bad`), so a hostile redirect is recorded, never a crash."""
    try:
        return urljoin(base, location)
    except ValueError:
        return location


def host_port(url: str) -> str:
    """host[:port] of a URL as written (an explicit port kept), without userinfo; '' when
    it has none or cannot be split."""
    try:
        parts = split_url(url)
    except InvalidURL:
        return ""
    host = f"[{parts.host}]" if ":" in parts.host else parts.host
    return host if parts.port is None else f"{host}:{parts.port}"
