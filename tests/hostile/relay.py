"""A hostile registry for tests: an HTTP relay in front of a real lab server that rewrites
what the real server answers.

`HostileRelay` listens on 127.0.0.1 (TLS with the lab's own certificate, which names every
lab host, or a certificate the client does not trust, or plain HTTP), forwards each request
to the real lab server behind it (hub, cdn, auth…) with an httpx client trusting the lab CA,
and lets a test change the answer: the body, the headers, a stall or a cut after N bytes.
Clients reach it as `<lab host>:<relay port>` (every lab name resolves to 127.0.0.1).
The running lab is never reconfigured: the relay is a process-local fixture.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Hop-by-hop and framing headers the relay sets itself.
_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding",
         "proxy-connection", "te", "trailer", "upgrade"}
MANIFEST_PATH = re.compile(r"^(?P<prefix>/v2/(?P<name>.+?))/manifests/(?P<ref>[^/?]+)$")


@dataclass
class Request:
    method: str
    path: str  # with the query
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stall_after: int | None = None  # send this many body bytes, then hold the connection open
    cut_after: int | None = None    # send this many body bytes, then close the connection
    chunked: bool = False           # no Content-Length: the size is not known until the end

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_header(self, name: str, value: str | None) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        if value is not None:
            self.headers.append((name, value))


# answer(request, forward) -> Reply: `forward(request)` is the real server's reply.
Handler = Callable[[Request, Callable[[Request], Reply]], Reply]


def passthrough(request: Request, forward: Callable[[Request], Reply]) -> Reply:
    return forward(request)


class HostileRelay:
    """HTTP(S) on 127.0.0.1:<port> → `upstream` (a lab base URL), answers shaped by `handler`."""

    def __init__(self, upstream: str, ca: Path, *, cert: tuple[Path, Path] | None = None,
                 handler: Handler = passthrough) -> None:
        self.upstream = upstream.rstrip("/")
        self.handler = handler
        self.requests: list[Request] = []
        self.bytes_sent = 0  # body bytes written to clients
        self.stalled = threading.Event()  # set when a reply starts to stall
        self.release = threading.Event()  # ends every stall
        self._upstream = httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=30,
                                      follow_redirects=False)
        self.tls = cert is not None
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            self._server.tls = context
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def base(self, host: str) -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def forward(self, request: Request) -> Reply:
        headers = [(k, v) for k, v in request.headers if k.lower() not in _DROP]
        resp = self._upstream.request(request.method, self.upstream + request.path, headers=headers,
                                      content=request.body or None)
        body = resp.content if request.method != "HEAD" else b""
        reply = Reply(resp.status_code, [(k, v) for k, v in resp.headers.multi_items()
                                         if k.lower() not in _DROP | {"content-encoding"}], body)
        if request.method == "HEAD" and "content-length" in resp.headers:
            reply.set_header("Content-Length", resp.headers["content-length"])
        return reply

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()

    def __enter__(self) -> HostileRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = self.socket.accept()
        if self.tls is not None:
            # The handshake happens on the first read, in the connection's own thread.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client refusing the certificate or hanging up is part of the tests


def _make_handler(relay: HostileRelay) -> type[BaseHTTPRequestHandler]:
    class RelayHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, list(self.headers.items()), body)
            relay.requests.append(request)
            reply = relay.handler(request, relay.forward)
            self._send(request, reply)

        def _send(self, request: Request, reply: Reply) -> None:
            self.send_response(reply.status)
            for k, v in reply.headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            head_length = reply.header("content-length") if request.method == "HEAD" else None
            if reply.chunked and request.method != "HEAD":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", head_length or str(len(reply.body)))
            self.end_headers()
            if request.method == "HEAD":
                return
            body = reply.body
            stop = reply.stall_after if reply.stall_after is not None else reply.cut_after
            if stop is not None:
                self._write(body[:stop])
                self.wfile.flush()
                if reply.stall_after is not None:
                    relay.stalled.set()
                    relay.release.wait()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.chunked:
                for i in range(0, len(body), 65536):
                    piece = body[i:i + 65536]
                    self.wfile.write(b"%x\r\n" % len(piece))
                    self._write(piece)
                    self.wfile.write(b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                for i in range(0, len(body), 65536):
                    self._write(body[i:i + 65536])

        def _write(self, data: bytes) -> None:
            self.wfile.write(data)
            relay.bytes_sent += len(data)

        do_GET = do_HEAD = do_POST = _handle

    return RelayHandler


# -- certificates --------------------------------------------------------------------------
def untrusted_certificate(directory: Path, hostnames: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for `hostnames` that no client trusts (not the lab CA's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "untrusted.crt", directory / "untrusted.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# -- faults ----------------------------------------------------------------------------------
def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def is_manifest_get(request: Request, reply: Reply) -> bool:
    return (request.method == "GET" and reply.status == 200
            and MANIFEST_PATH.match(request.path.split("?")[0]) is not None)


class ServedManifest:
    """A hostile registry that is self-consistent: the manifest of a tag is rewritten by
    `transform(json) -> bytes` and the HEAD's Docker-Content-Digest, the GET by that digest
    and the GET's own header all agree with the rewritten bytes. Only what the rewrite put
    inside the manifest is wrong, so that is what the client must catch."""

    def __init__(self, transform: Callable[[dict], bytes], *, chunked: bool = False,
                 blobs: list[bytes] = ()) -> None:
        self.transform = transform
        self.chunked = chunked
        self.served: dict[str, bytes] = {}
        self.tag: str | None = None
        # Blobs the rewritten manifest may name, answered by the relay itself (200, no redirect).
        self.blobs = {digest_of(b): b for b in blobs}

    def __call__(self, request: Request, forward: Callable[[Request], Reply]) -> Reply:
        path = request.path.split("?")[0]
        blob = next((b for d, b in self.blobs.items() if path.endswith(f"/blobs/{d}")), None)
        if blob is not None:
            return Reply(200, [("Content-Type", "application/octet-stream")], blob)
        m = MANIFEST_PATH.match(path)
        if not m:
            return forward(request)
        ref = m.group("ref")
        if not ref.startswith("sha256:"):
            self.tag = ref
        elif ref not in self.served:
            return forward(request)
        upstream = Request("GET", f"{m.group('prefix')}/manifests/{self.tag}", request.headers)
        reply = forward(upstream)
        if reply.status != 200:
            return reply
        body = self.transform(json.loads(reply.body))
        digest = digest_of(body)
        self.served[digest] = body
        reply.body = b"" if request.method == "HEAD" else body
        reply.set_header("Docker-Content-Digest", digest)
        reply.set_header("Content-Length", str(len(body)) if request.method == "HEAD" else None)
        reply.chunked = self.chunked
        return reply


def rewrite_realm(new_realm: str) -> Handler:
    """Every challenge names `new_realm` as its token service."""
    def handler(request: Request, forward: Callable[[Request], Reply]) -> Reply:
        reply = forward(request)
        challenge = reply.header("www-authenticate")
        if challenge:
            reply.set_header("WWW-Authenticate", re.sub(r'realm="[^"]*"', f'realm="{new_realm}"', challenge))
        return reply
    return handler


def rewrite_location(new_base: str) -> Handler:
    """Every redirect keeps its path and query but goes to `new_base` (scheme://host[:port])."""
    def handler(request: Request, forward: Callable[[Request], Reply]) -> Reply:
        reply = forward(request)
        location = reply.header("location")
        if location and 300 <= reply.status < 400:
            url = httpx.URL(location)
            target = new_base + url.raw_path.decode() if "://" in new_base else new_base
            reply.set_header("Location", target)
        return reply
    return handler
