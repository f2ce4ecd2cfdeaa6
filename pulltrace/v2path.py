"""The one reading of registry URLs: the distribution API's /v2/ path grammar and host names.

Every part of pulltrace that asks "is this a manifest request, for which repository, on
which registry?" asks here, so the classifier, the doctor and the views agree:

- a path prefix before `/v2/` is part of the registry (seed 002's nginx serves the
  registry under `/docker-registry/v2/`);
- names and references are percent-decoded (`team%2Fapp` is `team/app`: some clients
  and proxies escape the slash, and distribution accepts it);
- distribution's storage layout (`/docker/registry/v2/blobs/sha256/ab/<hex>/data`, what a
  CDN serves after a 307) holds `/v2/` but is not the API;
- default ports are dropped (`hub.example:443` is `hub.example`), so one registry has one name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote, urlsplit

Endpoint = Literal["ping", "catalog", "tags", "manifest", "blob", "upload", "other"]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_DIGEST_IN_TEXT_RE = re.compile(r"sha256[:/](?:[a-f0-9]{2}/)?([a-f0-9]{64})")
_V2_RE = re.compile(r"^(?P<prefix>.*?)/v2(?:/(?P<rest>.*))?$")
_STORAGE_RE = re.compile(r"/docker/registry/v2/(?:blobs|repositories)/")
_ENDPOINT_RE = re.compile(r"^(?P<name>.+?)/(?P<op>manifests|blobs|tags)/(?P<ref>[^/]*)$")
_UPLOAD_RE = re.compile(r"^(?P<name>.+?)/blobs/uploads(?:/(?P<uuid>[^/]*))?/?$")
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class V2Path:
    """A registry API path: `[prefix]/v2/<name>/<endpoint>/<reference>`."""

    prefix: str
    endpoint: Endpoint
    repository: str | None = None
    reference: str | None = None

    @property
    def valid_name(self) -> bool:
        """The repository follows the distribution name grammar (lowercase components)."""
        return bool(self.repository and _NAME_RE.match(self.repository))

    @property
    def by_digest(self) -> bool:
        return is_digest(self.reference)


@lru_cache(maxsize=8192)
def parse_path(path: str) -> V2Path | None:
    """Read the distribution API grammar off a URL path (no query), after any prefix.

    gcr's `/v2/token` and quay's `/v2/auth` realms read as endpoint "other": callers that
    want the API only check the endpoint.
    """
    path = unquote(path)
    if _STORAGE_RE.search(path):
        return None
    m = _V2_RE.match(path)
    if not m:
        return None
    prefix, rest = m.group("prefix"), m.group("rest")
    if rest is None or rest == "":
        return V2Path(prefix, "ping")
    if rest == "_catalog" or rest.startswith("_catalog/"):
        return V2Path(prefix, "catalog")
    up = _UPLOAD_RE.match(rest)
    if up:
        return V2Path(prefix, "upload", up.group("name"), up.group("uuid") or None)
    em = _ENDPOINT_RE.match(rest)
    if not em:
        return V2Path(prefix, "other")
    name, op, ref = em.group("name"), em.group("op"), em.group("ref") or None
    if op == "tags":
        return V2Path(prefix, "tags", name, ref)
    if op == "blobs":
        return V2Path(prefix, "blob", name, ref)
    return V2Path(prefix, "manifest", name, ref)


@lru_cache(maxsize=8192)
def parse_url(url: str) -> V2Path | None:
    return parse_path(urlsplit(url).path)


def api_path(url: str) -> V2Path | None:
    """The /v2/ API call a URL makes; None for anything else (a CDN, a token realm)."""
    parsed = parse_url(url)
    return parsed if parsed is not None and parsed.endpoint != "other" else None


def is_digest(reference: str | None) -> bool:
    return bool(reference and _DIGEST_RE.match(reference))


def is_valid_name(name: str | None) -> bool:
    return bool(name and _NAME_RE.match(name))


@lru_cache(maxsize=8192)
def netloc(url: str) -> str:
    """`host[:port]` of a URL, lowercased, without userinfo or the scheme's default port."""
    parts = urlsplit(url)
    return normal_host(parts.netloc.rsplit("@", 1)[-1], parts.scheme)


def normal_host(host: str, scheme: str = "https") -> str:
    """`hub.example:443` → `hub.example` (for https; `:80` for http)."""
    host = host.lower()
    default = _DEFAULT_PORTS.get(scheme.lower())
    if default is not None and host.endswith(f":{default}") and not host.endswith("]"):
        return host[: -len(f":{default}")]
    return host


def registry_of(url: str, v2: V2Path | None = None) -> str:
    """host[:port][/prefix] — the registry a /v2/ request talks to."""
    if v2 is None:
        v2 = parse_url(url)
    return netloc(url) + (v2.prefix if v2 else "")


@lru_cache(maxsize=8192)
def url_base(url: str) -> str:
    """scheme://host/path without query or default port: what a realm is compared by."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{netloc(url)}{parts.path or '/'}"


def digest_in_url(url: str) -> str | None:
    """A sha256 digest named in a URL path (a registry blob path or a storage layout)."""
    m = _DIGEST_IN_TEXT_RE.search(unquote(urlsplit(url).path))
    return f"sha256:{m.group(1)}" if m else None
