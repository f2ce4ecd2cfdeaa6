"""Sending requests: auth flows driven, redirects followed hop by hop, every hop recorded.

The client follows redirects itself (httpx's own following is off) so that the 307 and the
CDN GET are two exchanges in the trace, and so that Authorization is decided per hop by the
auth flow, never copied: a redirect to another origin drops it (as httpx's
`_redirect_headers` does), and the auth flow only re-attaches it to a registry API path
that asked for it.
"""

from __future__ import annotations

import hashlib
import ssl
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import httpx

from pulltrace.client.auth_flow import RegistryAuth
from pulltrace.client.errors import ConnectionFailed, RegistryError, TLSFailure
from pulltrace.client.recorder import CLIENT_NAME, Recorder
from pulltrace.model import Exchange

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=15.0)
CHUNK = 256 * 1024


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
    url = request.url.join(location)
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

    def close(self) -> None:
        self._secure.close()
        self._insecure.close()

    def _client(self, url: httpx.URL) -> httpx.Client:
        host = url.host
        hostport = f"{host}:{url.port}" if url.port else host
        return self._insecure if host in self.insecure_hosts or hostport in self.insecure_hosts else self._secure

    # -- one wire request -----------------------------------------------------------------
    def _send_raw(self, request: httpx.Request, stream: bool) -> tuple[httpx.Response, Exchange]:
        request.headers.setdefault("User-Agent", self.user_agent)
        request.extensions["timeout"] = self.timeout.as_dict()
        ex, _ = self.recorder.begin(request)
        try:
            response = self._client(request.url).send(request, stream=True)
        except httpx.HTTPError as e:
            self.recorder.finish(ex, error=f"{type(e).__name__}: {e}")
            raise
        self.recorder.response(ex, response)
        if stream and 200 <= response.status_code < 300:
            return response, ex  # the caller reads the body and closes the exchange
        try:
            body = response.read()
        except httpx.HTTPError as e:
            self.recorder.finish(ex, error=f"{type(e).__name__}: {e}")
            response.close()
            raise
        finally:
            response.close()
        self.recorder.finish(ex, body=body if request.method != "HEAD" else None, nbytes=len(body))
        return response, ex

    def _send_authed(self, request: httpx.Request, stream: bool) -> tuple[httpx.Response, Exchange]:
        flow = self.auth.flow(request)
        wire = next(flow)
        while True:
            response, ex = self._send_raw(wire, stream=stream and wire is request)
            try:
                wire = flow.send(response)
            except StopIteration:
                return response, ex
            if not response.is_closed:
                response.close()

    def send(self, request: httpx.Request, *, stream: bool = False, follow_redirects: bool = True) -> Response:
        """Send `request`, answering challenges and following redirects.

        With `stream`, a 2xx final body is left unread: read it with `iter_body`.
        Transport failures become ConnectionFailed/TLSFailure naming the host.
        """
        hops: list[Exchange] = []
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response, ex = self._send_authed(request, stream)
            except httpx.HTTPError as e:
                raise wrap_transport_error(e, request.url) from e
            hops.append(ex)
            if follow_redirects and response.status_code in REDIRECT_STATUSES:
                request = redirect_request(request, response, self.blob_rewrite)
                continue
            return Response(response, ex, hops)
        raise RegistryError(f"more than {MAX_REDIRECTS} redirects starting at {hops[0].url}")

    def request(self, method: str, url: str | httpx.URL, headers: dict[str, str] | None = None, *,
                stream: bool = False) -> Response:
        return self.send(httpx.Request(method, url, headers=headers or {}), stream=stream)

    @contextmanager
    def stream(self, method: str, url: str | httpx.URL, headers: dict[str, str] | None = None) -> Iterator[Response]:
        """A streamed request; the body must be read with `iter_body` inside the block."""
        res = self.request(method, url, headers, stream=True)
        try:
            yield res
        finally:
            if not res.http.is_closed:
                res.http.close()
            if res.exchange.duration_ms is None:
                self.recorder.finish(res.exchange, error="body not read to the end")

    def iter_body(self, res: Response, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Yield a streamed body's raw bytes, recording its size and (whole bodies) its sha256."""
        hasher = hashlib.sha256()
        count = 0
        try:
            for chunk in res.http.iter_raw(chunk_size):
                hasher.update(chunk)
                count += len(chunk)
                yield chunk
        except httpx.HTTPError as e:
            self.recorder.finish(res.exchange, nbytes=count, error=f"{type(e).__name__}: {e}")
            raise wrap_transport_error(e, res.url) from e
        except BaseException as e:
            self.recorder.finish(res.exchange, nbytes=count, error=f"stopped: {type(e).__name__}")
            raise
        whole = res.status == 200
        self.recorder.finish(res.exchange, nbytes=count,
                             sha256="sha256:" + hasher.hexdigest() if whole else None)


def wrap_transport_error(e: httpx.HTTPError, url: httpx.URL) -> Exception:
    """A one-line, actionable error for a failure below HTTP."""
    host = f"{url.host}:{url.port}" if url.port else url.host
    text = str(e) or type(e).__name__
    if _is_tls_error(e):
        return TLSFailure(f"TLS failure talking to {host}: {_short(text)}; trust its CA with --ca-cert FILE "
                          f"or, for a test registry, --insecure-registry {host}")
    if isinstance(e, httpx.ConnectError):
        return ConnectionFailed(f"cannot reach {host}: {_short(text)}; check the name, the port and the network",
                                connect=True)
    if isinstance(e, httpx.TimeoutException):
        return ConnectionFailed(f"{host} did not answer in time ({type(e).__name__}); retry or check the network")
    return ConnectionFailed(f"connection to {host} failed: {_short(text)}")


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
