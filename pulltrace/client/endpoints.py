"""Where requests for an image go: registry, mirror, reverse proxies, plain HTTP.

- `--mirror URL` (or `HOST=URL`): docker's `registry-mirrors` — Docker Hub names go to the
  mirror first and fall back to the registry itself when the mirror fails.
- The seed-002 layout: one nginx with path prefixes in front of registry, token service and
  blob storage, named by `DOCKER_REGISTRY_REVERSE_PROXY` (the registry's base URL, e.g.
  `https://proxy/docker-registry`), `DOCKER_AUTH_REVERSE_PROXY` (the token realm, e.g.
  `https://proxy/docker-auth/token`) and `DOCKER_BLOB_REVERSE_PROXY` (prefixed to the path of
  every blob redirect, e.g. `https://proxy/docker-blob`).
- `--insecure-registry HOST`: TLS is not verified, and when HTTPS cannot be spoken at all
  plain HTTP is tried (dockerd does the same for such registries).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from pulltrace.reference import DOCKER_HUB, ImageReference

REGISTRY_PROXY_ENV = "DOCKER_REGISTRY_REVERSE_PROXY"
AUTH_PROXY_ENV = "DOCKER_AUTH_REVERSE_PROXY"
BLOB_PROXY_ENV = "DOCKER_BLOB_REVERSE_PROXY"


class EndpointError(ValueError):
    """A mirror or proxy URL that cannot be used; the message says which."""


def normalise_base(text: str, what: str) -> str:
    """`host/prefix` or `https://host/prefix/` → `https://host/prefix`."""
    text = text.strip()
    if not text:
        raise EndpointError(f"{what} is empty")
    if "://" not in text:
        text = "https://" + text
    url = httpx.URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise EndpointError(f"{what} {text!r} is not an http(s) URL")
    return text.rstrip("/")


@dataclass(frozen=True)
class Endpoint:
    """One base URL to speak the registry API to; `kind` is registry, mirror or proxy."""

    base: str
    kind: str = "registry"

    def url(self, path: str) -> httpx.URL:
        return httpx.URL(f"{self.base}/v2/{path}")

    @property
    def host(self) -> str:
        url = httpx.URL(self.base)
        return f"{url.host}:{url.port}" if url.port else url.host

    def with_scheme(self, scheme: str) -> Endpoint:
        url = httpx.URL(self.base)
        return Endpoint(str(url.copy_with(scheme=scheme)).rstrip("/"), self.kind)


@dataclass(frozen=True)
class Routing:
    """Every knob that changes where a pull's requests go."""

    mirrors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    registry_proxy: str | None = None
    auth_proxy: str | None = None
    blob_proxy: str | None = None
    insecure: frozenset[str] = frozenset()

    @classmethod
    def build(cls, mirrors: list[str] | None = None, registry_proxy: str | None = None,
              auth_proxy: str | None = None, blob_proxy: str | None = None,
              insecure: list[str] | None = None, env: Mapping[str, str] | None = None) -> Routing:
        """From options; the seed-002 environment variables fill what options leave unset."""
        env = os.environ if env is None else env
        table: dict[str, list[str]] = {}
        for item in mirrors or []:
            host, sep, url = item.partition("=")
            if sep and "://" not in host and "/" not in host:
                table.setdefault(host, []).append(normalise_base(url, f"--mirror {item}"))
            else:
                table.setdefault(DOCKER_HUB, []).append(normalise_base(item, "--mirror"))
        registry_proxy = registry_proxy or env.get(REGISTRY_PROXY_ENV) or None
        auth_proxy = auth_proxy or env.get(AUTH_PROXY_ENV) or None
        blob_proxy = blob_proxy or env.get(BLOB_PROXY_ENV) or None
        return cls(
            mirrors={k: tuple(v) for k, v in table.items()},
            registry_proxy=normalise_base(registry_proxy, "registry proxy") if registry_proxy else None,
            auth_proxy=normalise_base(auth_proxy, "auth proxy") if auth_proxy else None,
            blob_proxy=normalise_base(blob_proxy, "blob proxy") if blob_proxy else None,
            insecure=frozenset(h.strip() for h in (insecure or []) if h.strip()),
        )

    def endpoints(self, ref: ImageReference) -> list[Endpoint]:
        """The endpoints to try for `ref`, in order: mirrors first, then the registry."""
        out = [Endpoint(m, "mirror") for m in self.mirrors.get(ref.domain, ())]
        if self.registry_proxy:
            out.append(Endpoint(self.registry_proxy, "proxy"))
        else:
            out.append(Endpoint(f"https://{ref.registry_host}", "registry"))
        return out

    def is_insecure(self, host: str) -> bool:
        """`host` or `host:port` named by --insecure-registry."""
        return host in self.insecure or host.split(":")[0] in self.insecure

    def rewrite_realm(self, realm: str) -> str:
        """A token realm reached through the auth proxy: `https://auth/token` → `<proxy>/token`.

        The proxy may be given with the realm's path already (`…/docker-auth/token`, as in
        seed 002) or as a bare prefix (`…/docker-auth`); the realm's query string is kept. A
        realm already under the proxy (seed 002's nginx rewrites it so) is left as it is,
        so a bare prefix is not doubled.
        """
        if not self.auth_proxy:
            return realm
        url = httpx.URL(realm)
        proxy = httpx.URL(self.auth_proxy)
        path = url.path.rstrip("/")
        prefix = proxy.path.rstrip("/")
        if _same_origin(url, proxy) and (path == prefix or path.startswith(prefix + "/")):
            return realm
        base = self.auth_proxy if path and prefix.endswith(path) else self.auth_proxy + path
        query = url.query.decode()
        return f"{base}?{query}" if query else base

    def rewrite_blob(self, url: httpx.URL) -> httpx.URL:
        """A blob redirect sent through the blob proxy: its path and query after the prefix."""
        if not self.blob_proxy:
            return url
        target = self.blob_proxy + url.raw_path.decode()
        return httpx.URL(target)


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    def port(u: httpx.URL) -> int:
        return u.port or (443 if u.scheme == "https" else 80)

    return a.scheme == b.scheme and a.host == b.host and port(a) == port(b)
