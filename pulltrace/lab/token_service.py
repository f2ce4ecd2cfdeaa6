"""The lab's token service: Docker's token authentication spec and its OAuth2 variant.

Run as its own process: `python -m pulltrace.lab.token_service --config FILE`.

- `GET <any path>?service=…&scope=…` with Basic credentials or none (anonymous);
  `offline_token=true` with credentials adds a `refresh_token` (what `docker login` asks for).
- `POST <any path>` form, `grant_type=password` or `grant_type=refresh_token`; with
  `access_type=offline` a `refresh_token` comes back.

Tokens are RS256 JWTs whose `x5c` header holds the signing certificate, the same file the
registries name as `rootcertbundle`. Who may do what is `pulltrace.lab.users`.
Every request is logged as one JSON line — names and scopes, never passwords or tokens.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pulltrace.auth import Scope, parse_scope
from pulltrace.lab import users
from pulltrace.lab.users import ANONYMOUS, User

ISSUER = "pulltrace-lab-token-service"
DEFAULT_SERVICE = "hub.pulltrace.test"
BASIC_REALM = "pulltrace lab token service"
# distribution 2.8 accepts a token until 60 s past its `exp` (clock-skew leeway, RFC 7519
# 4.1.4). Short-lived tokens back-date `exp` by it, so the registry refuses them after
# exactly `expires_in` seconds; other tokens keep an honest `exp`.
REGISTRY_LEEWAY = 60


@dataclass(frozen=True)
class TokenConfig:
    """What the token service process needs; written as JSON by `lab up`."""

    host: str
    port: int
    signing_key: Path
    signing_cert: Path
    log: Path
    lifetime: int = 300
    brief_lifetime: int = 4
    issuer: str = ISSUER
    default_service: str = DEFAULT_SERVICE

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenConfig:
        return cls(
            host=data["host"], port=int(data["port"]),
            signing_key=Path(data["signing_key"]), signing_cert=Path(data["signing_cert"]),
            log=Path(data["log"]), lifetime=int(data.get("lifetime", 300)),
            brief_lifetime=int(data.get("brief_lifetime", 4)),
            issuer=data.get("issuer", ISSUER), default_service=data.get("default_service", DEFAULT_SERVICE),
        )


class Signer:
    """Mints access and refresh tokens with the lab's token signing key."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, issuer: str = ISSUER) -> None:
        key = serialization.load_pem_private_key(key_pem, None)
        cert = x509.load_pem_x509_certificate(cert_pem)
        public = cert.public_key()
        # distribution 2.8 verifies RS256 with the x5c chain; the lab's signing key is RSA.
        if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("the token signing key and certificate must be RSA (RS256)")
        self._key, self._public = key, public
        # distribution verifies x5c[0] against its rootcertbundle; a self-signed signer
        # that is itself the bundle is accepted.
        self._x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.issuer = issuer

    @classmethod
    def from_files(cls, key: Path, cert: Path, issuer: str = ISSUER) -> Signer:
        return cls(key.read_bytes(), cert.read_bytes(), issuer)

    def access_token(self, subject: str, service: str, access: list[dict[str, Any]], lifetime: int,
                     now: float | None = None, leeway: int = 0) -> tuple[str, int]:
        """A registry token and its `iat`. `aud` is a plain string: distribution 2.8 needs that.

        `leeway` is subtracted from `exp` (see REGISTRY_LEEWAY).
        """
        iat = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer, "sub": subject, "aud": service,
            "exp": iat + lifetime - leeway, "nbf": iat - leeway, "iat": iat,
            "jti": secrets.token_hex(16), "access": access,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": self._x5c})
        return token, iat

    def refresh_token(self, subject: str) -> str:
        """Stateless: a signed JWT naming the user, so it outlives token service restarts."""
        claims = {"iss": self.issuer, "sub": subject, "use": "refresh",
                  "iat": int(time.time()), "jti": secrets.token_hex(16)}
        return jwt.encode(claims, self._key, algorithm="RS256")

    def refresh_subject(self, token: str) -> str | None:
        try:
            claims = jwt.decode(token, self._public, algorithms=["RS256"], issuer=self.issuer,
                                options={"require": ["sub", "use"], "verify_aud": False})
        except jwt.PyJWTError:
            return None
        return claims["sub"] if claims.get("use") == "refresh" else None


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    log: dict[str, Any] = field(default_factory=dict)


def _rfc3339(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, code: str, message: str, basic: bool = False) -> Reply:
    headers = {"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'} if basic else {}
    return Reply(status, {"errors": [{"code": code, "message": message, "detail": None}]}, headers)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        name, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return name, password


def _scopes(raw: list[str]) -> list[Scope]:
    out: list[Scope] = []
    for value in raw:
        # OAuth2 forms put several scopes in one parameter, separated by spaces.
        for text in value.split():
            out.append(parse_scope(text))
    return out


def _access(user: User, scopes: list[Scope]) -> list[dict[str, Any]]:
    # A scope the user may not have is kept with no actions (Docker Hub does the same);
    # the registry then answers 401 insufficient_scope rather than the token service 403.
    return [{"type": s.type, "name": s.name, "actions": users.granted_actions(user, s)} for s in scopes]


class TokenService:
    """The request logic, free of sockets so unit tests can call `handle` directly."""

    def __init__(self, signer: Signer, lifetime: int = 300, brief_lifetime: int = 4,
                 default_service: str = DEFAULT_SERVICE) -> None:
        self.signer = signer
        self.lifetime = lifetime
        self.brief_lifetime = brief_lifetime
        self.default_service = default_service

    def lifetime_of(self, user: User) -> int:
        return self.brief_lifetime if user.short_lived else self.lifetime

    def mint(self, user: User, service: str, access: list[dict[str, Any]]) -> tuple[str, int, int]:
        """(token, iat, expires_in) for this user."""
        lifetime = self.lifetime_of(user)
        leeway = REGISTRY_LEEWAY if user.short_lived else 0
        token, iat = self.signer.access_token(user.name, service, access, lifetime, leeway=leeway)
        return token, iat, lifetime

    def handle(self, method: str, target: str, authorization: str | None = None,
               body: bytes = b"") -> Reply:
        if urlsplit(target).path == "/healthz":
            return Reply(200, {"status": "ok"})
        if method == "GET":
            reply = self._get(target, authorization)
        elif method == "POST":
            reply = self._post(target, body)
        else:
            reply = _error(405, "UNSUPPORTED", f"method {method} not allowed; use GET or POST")
        reply.log.setdefault("method", method)
        reply.log.setdefault("path", urlsplit(target).path)
        reply.log["status"] = reply.status
        return reply

    def _get(self, target: str, authorization: str | None) -> Reply:
        pairs = parse_qsl(urlsplit(target).query, keep_blank_values=True)
        query = {k: v for k, v in pairs}
        log: dict[str, Any] = {"kind": "get", "service": query.get("service"),
                               "account": query.get("account"), "client_id": query.get("client_id"),
                               "offline_token": query.get("offline_token"),
                               "scope": [v for k, v in pairs if k == "scope"]}
        try:
            scopes = _scopes([v for k, v in pairs if k == "scope"])
        except ValueError as e:
            reply = _error(400, "INVALID_REQUEST", str(e))
            reply.log = log
            return reply
        creds = _basic_credentials(authorization)
        user = ANONYMOUS
        if authorization is not None and creds is None and authorization.lower().startswith("basic"):
            reply = _error(401, "UNAUTHORIZED", "malformed Basic credentials", basic=True)
            reply.log = log
            return reply
        if creds:
            found = users.authenticate(*creds)
            log["user"] = creds[0]
            if found is None:
                reply = _error(401, "UNAUTHORIZED", "incorrect username or password", basic=True)
                reply.log = log
                return reply
            user = found
        service = query.get("service") or self.default_service
        access = _access(user, scopes)
        token, iat, lifetime = self.mint(user, service, access)
        body: dict[str, Any] = {"token": token, "access_token": token, "expires_in": lifetime,
                                "issued_at": _rfc3339(iat)}
        if creds and query.get("offline_token", "").lower() == "true":
            body["refresh_token"] = self.signer.refresh_token(user.name)
        log.update(user=user.name or "(anonymous)", granted=access, refresh_token="refresh_token" in body)
        return Reply(200, body, log=log)

    def _post(self, target: str, body: bytes) -> Reply:
        form = {k: v for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)}
        grant = form.get("grant_type", "")
        log: dict[str, Any] = {"kind": "oauth2", "grant_type": grant, "service": form.get("service"),
                               "client_id": form.get("client_id"), "access_type": form.get("access_type"),
                               "scope": form.get("scope", "")}
        try:
            scopes = _scopes([form.get("scope", "")])
        except ValueError as e:
            reply = _error(400, "INVALID_REQUEST", str(e))
            reply.log = log
            return reply
        if grant == "password":
            log["user"] = form.get("username", "")
            user = users.authenticate(form.get("username", ""), form.get("password", ""))
            if user is None:
                reply = _error(401, "UNAUTHORIZED", "incorrect username or password")
                reply.log = log
                return reply
        elif grant == "refresh_token":
            subject = self.signer.refresh_subject(form.get("refresh_token", ""))
            user = users.USERS.get(subject or "")
            if user is None:
                reply = _error(401, "UNAUTHORIZED", "invalid refresh token")
                reply.log = log
                return reply
        else:
            reply = _error(400, "UNSUPPORTED", f"unsupported grant_type {grant!r}: use password or refresh_token")
            reply.log = log
            return reply
        service = form.get("service") or self.default_service
        access = _access(user, scopes)
        token, iat, lifetime = self.mint(user, service, access)
        out: dict[str, Any] = {"access_token": token, "expires_in": lifetime, "issued_at": _rfc3339(iat),
                               "scope": " ".join(str(s) for s in scopes)}
        if form.get("access_type") == "offline":
            out["refresh_token"] = self.signer.refresh_token(user.name)
        log.update(user=user.name, granted=access, refresh_token="refresh_token" in out)
        return Reply(200, out, log=log)


class _Handler(BaseHTTPRequestHandler):
    service: TokenService
    log_file: Any
    log_lock = threading.Lock()
    protocol_version = "HTTP/1.1"
    server_version = "pulltrace-lab-token-service"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.service.handle(self.command, self.path, self.headers.get("Authorization"), body)
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        entry = {"time": _rfc3339(int(time.time())), "client": self.headers.get("X-Real-IP") or self.client_address[0],
                 "host": self.headers.get("Host"), "user_agent": self.headers.get("User-Agent"), **reply.log}
        with self.log_lock:
            self.log_file.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log_file.flush()

    do_GET = _serve
    do_POST = _serve
    do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # every request is already one JSON line in the log file


def serve(config: TokenConfig) -> None:
    signer = Signer.from_files(config.signing_key, config.signing_cert, config.issuer)
    config.log.parent.mkdir(parents=True, exist_ok=True)
    handler = type("Handler", (_Handler,), {
        "service": TokenService(signer, config.lifetime, config.brief_lifetime, config.default_service),
        "log_file": config.log.open("a"),
    })
    server = ThreadingHTTPServer((config.host, config.port), handler)
    server.daemon_threads = True
    print(f"token service listening on {config.host}:{config.port}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pulltrace.lab.token_service")
    parser.add_argument("--config", required=True, type=Path, help="JSON file written by `pulltrace lab up`")
    args = parser.parse_args(argv)
    try:
        config = TokenConfig.from_json(json.loads(args.config.read_text()))
    except (OSError, ValueError, KeyError) as e:
        print(f"token service: cannot read config {args.config}: {e}", file=sys.stderr)
        return 1
    try:
        serve(config)
    except OSError as e:
        print(f"token service: cannot listen on {config.host}:{config.port}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
