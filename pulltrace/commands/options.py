"""Flags shared by `pull` and `doctor`: the image, the platform, and how to reach the registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pulltrace.client.endpoints import EndpointError, Routing
from pulltrace.errors import UserError
from pulltrace.manifest import Platform
from pulltrace.reference import ImageReference, InvalidReference, parse_reference


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """Who to log in as and how to reach the registry: shared by `pull` and `doctor`."""
    p.add_argument("-u", "--username", help="registry user (else docker's config and credential helpers)")
    pw = p.add_mutually_exclusive_group()
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw.add_argument("-p", "--password", help="password (visible to other users in `ps`; prefer --password-stdin)")
    p.add_argument("--mirror", action="append", metavar="[HOST=]URL", default=[],
                   help="registry mirror tried first, falling back to the registry; plain URL applies to "
                        "Docker Hub names (as dockerd's registry-mirrors), HOST=URL to another registry. "
                        "Repeatable")
    p.add_argument("--registry-proxy", metavar="URL",
                   help="reverse proxy in front of the registry (env DOCKER_REGISTRY_REVERSE_PROXY)")
    p.add_argument("--auth-proxy", metavar="URL",
                   help="reverse proxy for the token realm (env DOCKER_AUTH_REVERSE_PROXY)")
    p.add_argument("--blob-proxy", metavar="URL",
                   help="reverse proxy that blob redirects are sent through (env DOCKER_BLOB_REVERSE_PROXY)")
    p.add_argument("--insecure-registry", action="append", metavar="HOST[:PORT]", default=[],
                   help="do not verify TLS for HOST, and fall back to plain HTTP. Repeatable")
    p.add_argument("--ca-cert", action="append", type=Path, metavar="FILE", default=[],
                   help="extra CA certificates (PEM) to trust. Repeatable")


def reference_arg(text: str) -> ImageReference:
    try:
        return parse_reference(text)
    except InvalidReference as e:
        raise UserError(str(e)) from None


def platform_arg(text: str | None) -> Platform | None:
    if not text:
        return None
    try:
        return Platform.parse(text)
    except ValueError as e:
        raise UserError(f"--platform: {e} (e.g. linux/amd64, linux/arm64/v8)") from None


def connection_options(args: argparse.Namespace) -> dict[str, Any]:
    """PullOptions' username, password, routing and ca_certs from `add_connection_options` flags."""
    password = args.password
    if args.password_stdin:
        if not args.username:
            raise UserError("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    if password is not None and not args.username:
        raise UserError("--password needs --username")
    if args.username and password is None:
        raise UserError("--username needs --password-stdin (or -p)")
    try:
        routing = Routing.build(args.mirror, args.registry_proxy, args.auth_proxy, args.blob_proxy,
                                args.insecure_registry)
    except EndpointError as e:
        raise UserError(str(e)) from None
    for path in args.ca_cert:
        if not path.is_file():
            raise UserError(f"--ca-cert {path}: no such file")
    return {"username": args.username, "password": password, "routing": routing,
            "ca_certs": tuple(args.ca_cert)}
