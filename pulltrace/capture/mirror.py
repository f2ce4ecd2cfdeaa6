"""`pulltrace mirror UPSTREAM`: a tracing registry mirror (mitmproxy's reverse mode + the addon).

A client configured with the mirror (containerd's hosts.toml, dockerd's registry-mirrors,
podman's registries.conf) talks plain HTTP to it, with no proxy variable and no CA to trust.
The registry's answers would send the client elsewhere — the Bearer realm to a token
service, blob redirects to a CDN — so `MirrorRoutes` rewrites those URLs to come back
through the mirror, under a prefix that names where they go:

    realm="https://auth.docker.io/token"         → http://MIRROR/_pulltrace/auth/https/auth.docker.io/token
    Location: https://cdn.example/blob?X-Sig=…   → http://MIRROR/_pulltrace/blob/https/cdn.example/blob?X-Sig=…

(seed 002's `/docker-auth/` and `/docker-blob/` layout, generalised to any host), and routes
such a request back to that host. Only hosts the mirror itself rewrote are routed, so it is
no open relay. The pulltrace addon is loaded first: it records each answer as the registry
sent it (the trace reads like a direct pull), and the rewrite happens after it.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from pulltrace.errors import UserError

PREFIX = "/_pulltrace"
AUTH, BLOB = "auth", "blob"
_ROUTE = re.compile(rf"^{PREFIX}/(?P<kind>{AUTH}|{BLOB})/(?P<scheme>https?)/(?P<host>[^/?#]+)(?P<rest>[/?].*)?$")
_REALM = re.compile(r'(\brealm=")([^"]*)(")', re.IGNORECASE)
REDIRECTS = (301, 302, 303, 307, 308)
# Docker Hub's registry API lives on registry-1.docker.io; users say docker.io.
DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Upstream:
    scheme: str
    host: str
    port: int

    @property
    def hostport(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.hostport}"

    @property
    def registry_name(self) -> str:
        """The name clients use for it (containerd's hosts dir, podman's location)."""
        return "docker.io" if self.host == DOCKER_HUB_API else self.hostport

    @property
    def is_docker_hub(self) -> bool:
        return self.host == DOCKER_HUB_API


def parse_upstream(text: str) -> Upstream:
    """`docker.io`, `ghcr.io`, `https://registry.example:5443`, `http://plain:5000` → an Upstream."""
    raw = text.strip()
    if not raw:
        raise UserError("no upstream registry given: pulltrace mirror UPSTREAM (e.g. docker.io, https://ghcr.io)")
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{text}: not a registry URL; give HOST[:PORT] or http(s)://HOST[:PORT]")
    if parts.path not in ("", "/") or parts.query:
        raise UserError(f"{text}: a mirror forwards a whole registry; give its base URL without a path")
    host = parts.hostname.lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UserError(f"{text}: invalid port") from None
    if host in DOCKER_HUB_NAMES:
        return Upstream("https", DOCKER_HUB_API, 443)
    return Upstream(parts.scheme, host, port)


def route_path(kind: str, url: str) -> str | None:
    """The mirror path that routes to absolute `url`, or None when `url` is not absolute http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    rest = parts.path or "/"
    if parts.query:
        rest += "?" + parts.query
    return f"{PREFIX}/{kind}/{parts.scheme}/{parts.netloc}{rest}"


@dataclass(frozen=True)
class Route:
    kind: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def hostport(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def parse_route(path: str) -> Route | None:
    """A `/_pulltrace/<auth|blob>/<scheme>/<host[:port]>/…` path → where it goes; None for any other path."""
    m = _ROUTE.match(path)
    if not m:
        return None
    parts = urlsplit(f"{m['scheme']}://{m['host']}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if not parts.hostname:
        return None
    rest = m["rest"] or "/"
    if rest.startswith("?"):
        rest = "/" + rest
    return Route(m["kind"], parts.scheme, parts.hostname.lower(), port, rest)


def rewrite_realm(header: str, base: str) -> str:
    """A Bearer challenge with its realm sent through the mirror at `base`."""
    if not header.lower().lstrip().startswith("bearer"):
        return header

    def sub(m: re.Match[str]) -> str:
        path = route_path(AUTH, m[2])
        return m[1] + (base + path if path else m[2]) + m[3]

    return _REALM.sub(sub, header, count=1)


def rewrite_location(location: str, base: str, upstream: Upstream) -> str:
    """A redirect to another host sent through the mirror; one to the registry itself, to the mirror."""
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return location  # relative: the client resolves it against the mirror already
    target = Upstream(parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https"
                                                                                    else 80))
    if target == upstream:
        rest = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return base + rest
    path = route_path(BLOB, location)
    return base + path if path else location


class MirrorRoutes:
    """mitmproxy addon: realm and Location rewriting, and routing the rewritten requests back out."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        # (scheme, host, port) the mirror sent a client to: the only places it routes to.
        self.allowed: set[tuple[str, str, int]] = set()
        self.lock = threading.Lock()

    def _allow(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.hostname:
            key = (parts.scheme, parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80))
            with self.lock:
                self.allowed.add(key)

    def requestheaders(self, flow: Any) -> None:
        from mitmproxy import http

        req = flow.request
        # keep_host_header is on: the Host the client used is how it reaches the mirror.
        scheme = "https" if flow.client_conn.tls_established else "http"
        flow.metadata["pulltrace_mirror_base"] = f"{scheme}://{req.host_header or self.upstream.hostport}"
        route = parse_route(req.path)
        if route is None:
            req.host_header = self.upstream.hostport
            return
        with self.lock:
            allowed = (route.scheme, route.host, route.port) in self.allowed
        if not allowed:
            flow.response = http.Response.make(
                403, f"pulltrace mirror: {route.hostport} is not a host this mirror sent a client to\n",
                {"Content-Type": "text/plain"})
            return
        req.scheme, req.host, req.port = route.scheme, route.host, route.port
        req.path = route.path
        req.host_header = route.hostport
        if route.kind == BLOB:
            # The client sent the registry's token because, to it, the CDN is the mirror's own origin;
            # a client talking to the CDN drops it (and S3 refuses a request signed twice).
            req.headers.pop("authorization", None)

    def responseheaders(self, flow: Any) -> None:
        # A streamed response's headers leave right after this hook: rewrite them now.
        if flow.response is not None and flow.response.stream:
            self._rewrite(flow)

    def response(self, flow: Any) -> None:
        # Runs after the pulltrace addon recorded the answer as the registry sent it.
        if flow.response is not None and not flow.response.stream:
            self._rewrite(flow)

    def _rewrite(self, flow: Any) -> None:
        if flow.metadata.get("pulltrace_mirror_rewritten"):
            return
        flow.metadata["pulltrace_mirror_rewritten"] = True
        base = flow.metadata.get("pulltrace_mirror_base")
        if not base:
            return
        resp = flow.response
        if resp.status_code == 401:
            values = resp.headers.get_all("www-authenticate")
            if values:
                for value in values:
                    m = _REALM.search(value)
                    if m and value.lower().lstrip().startswith("bearer"):
                        self._allow(m[2])
                resp.headers.set_all("www-authenticate", [rewrite_realm(v, base) for v in values])
        if resp.status_code in REDIRECTS and "location" in resp.headers:
            location = resp.headers["location"]
            rewritten = rewrite_location(location, base, self.upstream)
            if rewritten != location and PREFIX in rewritten:
                self._allow(location)
            resp.headers["location"] = rewritten


def mirror_options(upstream: Upstream, listen_host: str, listen_port: int, out: str, outputs: str,
                   confdir: str, upstream_ca: str) -> dict[str, object]:
    return {
        "mode": [f"reverse:{upstream.url}@{listen_host}:{listen_port}"],
        "keep_host_header": True,
        "confdir": confdir,
        "ssl_verify_upstream_trusted_ca": upstream_ca,
        "pulltrace_dir": out,
        "pulltrace_outputs": outputs,
    }


def print_config(kind: str, upstream: Upstream, listen: str) -> str:
    """The client snippet that sends `upstream`'s pulls through the mirror at `listen`."""
    mirror = f"http://{listen}"
    name = upstream.registry_name
    if kind == "containerd":
        return (f"# /etc/containerd/certs.d/{name}/hosts.toml (or ctr --hosts-dir DIR: DIR/{name}/hosts.toml)\n"
                f"server = \"{upstream.url}\"\n\n"
                f"[host.\"{mirror}\"]\n"
                f"  capabilities = [\"pull\", \"resolve\"]\n")
    if kind == "docker":
        if not upstream.is_docker_hub:
            return (f"# dockerd uses registry-mirrors for Docker Hub names only; for {name} pull through the\n"
                    f"# mirror by name instead (add it to insecure-registries unless it is on 127.0.0.0/8):\n"
                    f"#   docker pull {listen}/REPOSITORY:TAG\n"
                    f"{{\"insecure-registries\": [\"{listen}\"]}}\n")
        return ("# /etc/docker/daemon.json (merge), then restart dockerd; undo by removing the entry\n"
                f"{{\"registry-mirrors\": [\"{mirror}\"]}}\n")
    if kind == "podman":
        return (f"# /etc/containers/registries.conf.d/pulltrace-mirror.conf (remove it to undo)\n"
                f"[[registry]]\n"
                f"location = \"{name}\"\n\n"
                f"[[registry.mirror]]\n"
                f"location = \"{listen}\"\n"
                f"insecure = true\n")
    raise UserError(f"--print-config {kind}: choose containerd, docker or podman")


def serve_mirror(upstream: Upstream, listen_host: str, listen_port: int, *, out: str, outputs: str,
                 ca_certs: tuple[Path, ...] = (), stop: threading.Event | None = None,
                 stdout: TextIO | None = None) -> int:
    """Run the mirror until `stop` is set (or Ctrl-C); outputs are written when it stops."""
    from pulltrace.capture.addon import PullTrace
    from pulltrace.capture.inprocess import InProcessProxy
    from pulltrace.capture.probe import probe_registry
    from pulltrace.capture.tlswatch import TrustWatch, summary_lines
    from pulltrace.capture.trust import upstream_bundle

    stdout = stdout or sys.stdout
    stop = stop or threading.Event()

    def say(line: str) -> None:
        print(line, file=stdout, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="pulltrace-mirror-"))
    try:
        bundle = upstream_bundle(tmp, ca_certs)
        probe_registry(upstream.url, bundle)
        watch = TrustWatch()
        proxy = InProcessProxy(
            mirror_options(upstream, listen_host, listen_port, out, outputs, str(tmp / "mitmproxy"), str(bundle)),
            [PullTrace(), MirrorRoutes(upstream), watch], on_console=say)
        host, port = proxy.start()
        say(f"pulltrace mirror: http://{_hostport(host, port)} → {upstream.url}; traces go to {out} "
            f"when it stops (Ctrl-C)")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            proxy.stop()
        for line in summary_lines(watch.snapshot(), mirror=True):
            say(f"pulltrace: {line}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
