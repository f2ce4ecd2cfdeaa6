"""Sending requests: auth flows driven, redirects followed hop by hop, every hop recorded.

The client follows redirects itself (httpx's own following is off) so that the 307 and the
CDN GET are two exchanges in the trace, and so that Authorization is decided per hop by the
auth flow, never copied: a redirect to another origin drops it (as httpx's
`_redirect_headers` does), and the auth flow only re-attaches it to a registry API path
that asked for it.

What a registry sends is not trusted: every hop a Location or a token realm names passes
`hops.check_hop` (and its resolved address `hops.refuse_peer`); a body read whole — a
manifest, a token, an error — is capped while it streams in; a failure below HTTP names the
host that failed in its role (registry, token service, download host) and the fix for it.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from pulltrace.client.auth_flow import RegistryAuth
from pulltrace.client.errors import ConnectionFailed, PullError, RegistryError, ResponseTooLarge, TLSFailure
from pulltrace.client.hops import check_hop, hostport, refuse_peer, shown_url
from pulltrace.client.recorder import CLIENT_NAME, Recorder
from pulltrace.model import Exchange

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=15.0)

# containerd's MaxManifestSize (remotes/docker/resolver.go), spelt as it is there:
# 4 * 1048 * 1048 bytes, a little over 4 MiB.
MAX_MANIFEST_BYTES = 4 * 1048 * 1048
# A token response is a JWT and a few fields; 1 MiB is far above any real one.
MAX_TOKEN_BYTES = 1024 * 1024
# Anything else read whole (a ping, an error body, a redirect's body).
MAX_OTHER_BYTES = 4 * 1024 * 1024

# The role of the host a hop went to, for messages.
REGISTRY, TOKEN_SERVICE, DOWNLOAD_HOST = "registry", "token service", "download host"


@dataclass(frozen=True)
class BodyLimit:
    """The most bytes a body read whole may have, and what to call it when it has more."""

    nbytes: int
    what: str


MANIFEST_LIMIT = BodyLimit(MAX_MANIFEST_BYTES, "manifest")
TOKEN_LIMIT = BodyLimit(MAX_TOKEN_BYTES, "token response")
OTHER_LIMIT = BodyLimit(MAX_OTHER_BYTES, "response")


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return a.scheme == b.scheme and a.host == b.host and _port(a) == _port(b)


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def redirect_request(request: httpx.Request, response: httpx.Response,
                     rewrite: Callable[[httpx.URL], httpx.URL] | None = None) -> httpx.Request:
    """The next hop of a redirect. Authorization and cookies never cross to another origin."""
    location = response.headers.get("location")
    if not location:
        raise RegistryError(f"{request.url.host} answered {response.status_code} without a Location header")
    try:
        url = request.url.join(location)
    except httpx.InvalidURL:
        raise RegistryError(f"{hostport(request.url)} answered {response.status_code} with a malformed Location "
                            f"{location[:100]!r}", response.status_code) from None
    headers = httpx.Headers([(k, v) for k, v in request.headers.multi_items() if k.lower() != "host"])
    if not same_origin(url, request.url):
        # The registry → CDN case: the CDN must never see the registry's token.
        headers.pop("Authorization", None)
        headers.pop("Cookie", None)
        if rewrite is not None:
            url = rewrite(url)
    method = request.method
    if response.status_code == 303 and method != "HEAD":
        method = "GET"
    return httpx.Request(method, url, headers=headers)


@dataclass
class Response:
    """The final hop of a request, plus the exchanges of every hop it took."""

    http: httpx.Response
    exchange: Exchange
    hops: list[Exchange] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.http.status_code

    @property
    def url(self) -> httpx.URL:
        return self.http.request.url


class Transport:
    """Sends requests through the auth flow, following and recording every hop."""

    def __init__(self, auth: RegistryAuth, recorder: Recorder, *,
                 verify: ssl.SSLContext | bool = True, insecure_hosts: frozenset[str] = frozenset(),
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, blob_rewrite: Callable[[httpx.URL], httpx.URL] | None = None,
                 user_agent: str = CLIENT_NAME, trust_env: bool = True,
                 http_transport: httpx.BaseTransport | None = None) -> None:
        self.auth = auth
        self.recorder = recorder
        self.timeout = timeout
        self.blob_rewrite = blob_rewrite
        self.user_agent = user_agent
        self.insecure_hosts = insecure_hosts
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        self._secure = httpx.Client(verify=verify, timeout=timeout, follow_redirects=False,
                                    trust_env=trust_env, limits=limits, transport=http_transport)
        self._insecure = httpx.Client(verify=False, timeout=timeout, follow_redirects=False,
                                      trust_env=trust_env, limits=limits, transport=http_transport)
        self._open_lock = threading.Lock()
        self._open: set[httpx.Response] = set()

    def close(self) -> None:
        self.abort()
        self._secure.close()
        self._insecure.close()

    def is_insecure(self, host_or_hostport: str) -> bool:
        """Named by --insecure-registry, as `host` (any port) or `host:port`."""
        host = host_or_hostport.rsplit(":", 1)[0] if host_or_hostport.count(":") == 1 else host_or_hostport
        return host_or_hostport in self.insecure_hosts or host in self.insecure_hosts

    def _client(self, url: httpx.URL) -> httpx.Client:
        return self._insecure if self.is_insecure(hostport(url)) else self._secure

    def abort(self) -> None:
        """Shut the sockets of every body still streaming, so threads blocked reading them
        return at once (Ctrl-C, or a sibling download failed) instead of at the read timeout."""
        with self._open_lock:
            responses = list(self._open)
        for response in responses:
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                try:
                    # The plain socket's shutdown, also for an SSLSocket: it wakes a blocked
                    # read without touching the TLS state another thread is using.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- one wire request -----------------------------------------------------------------
    def _send_raw(self, request: httpx.Request, stream: bool, limit: BodyLimit,
                  role: str, origin: httpx.URL | None) -> tuple[httpx.Response, Exchange]:
        request.headers.setdefault("User-Agent", self.user_agent)
        request.extensions["timeout"] = self.timeout.as_dict()
        ex, clock = self.recorder.begin(request)
        if origin is not None:
            request.extensions["trace"] = _PeerCheck(clock, request.url, role, self.is_insecure)
        try:
            response = self._client(request.url).send(request, stream=True)
        except httpx.HTTPError as e:
            self.recorder.finish(ex, error=f"{type(e).__name__}: {e}")
            raise wrap_transport_error(e, request.url, role, origin) from e
        except PullError as e:  # the peer check refused the address
            self.recorder.finish(ex, error=str(e))
            raise
        self.recorder.response(ex, response)
        if stream and 200 <= response.status_code < 300:
            with self._open_lock:
                self._open.add(response)
            return response, ex  # the caller reads the body and closes the exchange
        try:
            body = read_capped(response, limit)
        except httpx.HTTPError as e:
            self.recorder.finish(ex, error=f"{type(e).__name__}: {e}")
            raise wrap_transport_error(e, request.url, role, origin) from e
        except ResponseTooLarge as e:
            self.recorder.finish(ex, error=str(e))
            raise
        finally:
            response.close()
        self.recorder.finish(ex, body=body if request.method != "HEAD" else None, nbytes=len(body))
        return response, ex

    def _send_authed(self, request: httpx.Request, stream: bool, limit: BodyLimit,
                     role: str, origin: httpx.URL | None) -> tuple[httpx.Response, Exchange]:
        flow = self.auth.flow(request)
        wire = next(flow)
        while True:
            if wire is request:
                response, ex = self._send_raw(wire, stream, limit, role, origin)
            else:
                # A token request: its realm came from the registry's challenge.
                check_hop(request.url, wire.url, "token realm", self.is_insecure)
                response, ex = self._send_raw(wire, False, TOKEN_LIMIT, TOKEN_SERVICE, request.url)
            try:
                wire = flow.send(response)
            except StopIteration:
                return response, ex
            if not response.is_closed:
                response.close()

    def send(self, request: httpx.Request, *, stream: bool = False, follow_redirects: bool = True,
             limit: BodyLimit = OTHER_LIMIT) -> Response:
        """Send `request`, answering challenges and following redirects.

        With `stream`, a 2xx final body is left unread: read it with `iter_body`. Otherwise
        the body is read whole, up to `limit`. Transport failures become
        ConnectionFailed/TLSFailure naming the host; unsafe hops UnsafeHop.
        """
        hops: list[Exchange] = []
        role, origin = REGISTRY, None
        for _ in range(MAX_REDIRECTS + 1):
            response, ex = self._send_authed(request, stream, limit, role, origin)
            hops.append(ex)
            if follow_redirects and response.status_code in REDIRECT_STATUSES:
                following = redirect_request(request, response, self.blob_rewrite)
                check_hop(request.url, following.url, "redirect", self.is_insecure)
                if not same_origin(following.url, request.url):
                    role, origin = DOWNLOAD_HOST, request.url
                request = following
                continue
            return Response(response, ex, hops)
        raise RegistryError(f"more than {MAX_REDIRECTS} redirects starting at {hops[0].url}")

    def request(self, method: str, url: str | httpx.URL, headers: dict[str, str] | None = None, *,
                stream: bool = False, limit: BodyLimit = OTHER_LIMIT) -> Response:
        return self.send(httpx.Request(method, url, headers=headers or {}), stream=stream, limit=limit)

    @contextmanager
    def stream(self, method: str, url: str | httpx.URL, headers: dict[str, str] | None = None) -> Iterator[Response]:
        """A streamed request; the body must be read with `iter_body` inside the block."""
        res = self.request(method, url, headers, stream=True)
        try:
            yield res
        finally:
            with self._open_lock:
                self._open.discard(res.http)
            if not res.http.is_closed:
                res.http.close()
            if res.exchange.duration_ms is None:
                self.recorder.finish(res.exchange, error="body not read to the end")

    def iter_body(self, res: Response, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield a streamed body's raw bytes, recording its size and (whole bodies) its sha256.

        By default each piece as it arrives: a chunk buffered towards a fixed size would be
        lost when the connection breaks, and the resume would fetch it again.
        """
        hasher = hashlib.sha256()
        count = 0
        try:
            for chunk in res.http.iter_raw(chunk_size):
                hasher.update(chunk)
                count += len(chunk)
                yield chunk
        except httpx.HTTPError as e:
            self.recorder.finish(res.exchange, nbytes=count, error=f"{type(e).__name__}: {e}")
            role = REGISTRY if len(res.hops) == 1 else DOWNLOAD_HOST
            raise wrap_transport_error(e, res.url, role) from e
        except BaseException as e:
            self.recorder.finish(res.exchange, nbytes=count, error=f"stopped: {type(e).__name__}")
            raise
        whole = res.status == 200
        self.recorder.finish(res.exchange, nbytes=count,
                             sha256="sha256:" + hasher.hexdigest() if whole else None)


class _PeerCheck:
    """httpcore's trace hook for a hop a registry named: records phases, and refuses the
    connection before the request is sent when its peer is a link-local or metadata address."""

    def __init__(self, clock: Callable[[str, dict], None], url: httpx.URL, role: str,
                 is_insecure: Callable[[str], bool]) -> None:
        self.clock, self.url, self.role, self.is_insecure = clock, url, role, is_insecure

    def __call__(self, event: str, info: dict) -> None:
        self.clock(event, info)
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            addr = stream.get_extra_info("server_addr") if stream is not None else None
            how = "token realm" if self.role == TOKEN_SERVICE else "redirect"
            refuse_peer(self.url, addr, how, self.is_insecure)


def read_capped(response: httpx.Response, limit: BodyLimit) -> bytes:
    """The whole (decoded) body, refused as soon as it passes `limit` — never read to the end
    first. A HEAD has no body; its Content-Length is the GET's."""
    host = hostport(response.request.url)
    declared = response.headers.get("content-length", "")
    if response.request.method != "HEAD" and declared.isdigit() and int(declared) > limit.nbytes:
        raise ResponseTooLarge(_too_large(limit, host, response.request.url, f"{int(declared)} bytes announced"))
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit.nbytes:
            raise ResponseTooLarge(_too_large(limit, host, response.request.url, "more than that sent"))
        chunks.append(chunk)
    body = b"".join(chunks)
    # What Response.read() keeps, so .content and .text work on the capped body.
    response._content = body
    return body


def _too_large(limit: BodyLimit, host: str, url: httpx.URL, seen: str) -> str:
    return (f"{host} sent a {limit.what} larger than {_human(limit.nbytes)} ({seen}) for {shown_url(url)}; "
            "refusing it — no registry needs one that large")


def _human(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def wrap_transport_error(e: httpx.HTTPError, url: httpx.URL, role: str = REGISTRY,
                         origin: httpx.URL | None = None) -> Exception:
    """A one-line, actionable error for a failure below HTTP, naming the host that failed.

    `role` is what that host is to the pull: the registry (`--insecure-registry` applies),
    the token service its challenge named, or the download host a redirect led to.
    """
    host = hostport(url)
    text = str(e) or type(e).__name__
    if role == TOKEN_SERVICE:
        who = f"the token service {host}" + (f" (the realm {hostport(origin)}'s challenge named)" if origin else "")
    elif role == DOWNLOAD_HOST:
        who = f"the download host {host}" + (f" (a redirect from {hostport(origin)})" if origin else "")
    else:
        who = host
    if _is_tls_error(e):
        if role == REGISTRY:
            fix = f"trust its CA with --ca-cert FILE or, for a test registry, --insecure-registry {host}"
        else:
            fix = f"trust the CA that signed {host}'s certificate with --ca-cert FILE"
        return TLSFailure(f"TLS failure talking to {who}: {_short(text)}; {fix}")
    if isinstance(e, httpx.ConnectError):
        return ConnectionFailed(f"cannot reach {who}: {_short(text)}; check the name, the port and the network",
                                connect=True)
    if isinstance(e, httpx.TimeoutException):
        return ConnectionFailed(f"{who} did not answer in time ({type(e).__name__}); retry or check the network")
    if isinstance(e, httpx.RemoteProtocolError) and "location header" in text:
        # httpx parses a redirect's Location itself, before the client sees the response.
        return RegistryError(f"{who} answered a redirect with a malformed Location ({_short(text)})")
    if isinstance(e, httpx.UnsupportedProtocol):
        return RegistryError(f"cannot request {shown_url(url)} from {who}: {_short(text)}")
    return ConnectionFailed(f"connection to {who} failed: {_short(text)}")


def _is_tls_error(e: BaseException) -> bool:
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(e)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text and "WRONG_VERSION" not in text


def _short(text: str) -> str:
    return text.replace("\n", " ").strip()[:200]
