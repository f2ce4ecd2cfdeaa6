"""`pulltrace mirror UPSTREAM`: a tracing registry mirror clients use without a proxy or a CA."""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import threading
from pathlib import Path

from pulltrace.capture.mirror import parse_upstream, print_config, serve_mirror
from pulltrace.capture.wrapper import DEFAULT_DIR, DEFAULT_OUTPUTS
from pulltrace.commands.vocabulary import command_parser
from pulltrace.errors import UserError

DEFAULT_LISTEN = "127.0.0.1:5000"
CONFIGS = ("containerd", "docker", "podman")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = command_parser(
        subparsers, "mirror",
        help="a tracing registry mirror: point containerd, dockerd or podman at it, no proxy or CA needed",
        description="Serve UPSTREAM as a plain-HTTP registry mirror through mitmproxy's reverse mode with "
                    "the pulltrace addon. Token realms and blob redirects are rewritten to come back through "
                    "the mirror, so every step of a pull is traced. Ctrl-C (or SIGTERM) stops it and writes "
                    "the outputs.",
        examples=[
            "pulltrace mirror docker.io --listen 127.0.0.1:5000 --print-config containerd",
            "pulltrace mirror docker.io --listen 127.0.0.1:5000 -o out",
            "pulltrace mirror https://registry.internal --ca-cert private-ca.pem --listen 0.0.0.0:5000",
        ],
    )
    p.add_argument("upstream", metavar="UPSTREAM", help="the registry: docker.io, ghcr.io, https://HOST[:PORT]")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"where the mirror listens (default {DEFAULT_LISTEN})")
    p.add_argument("-o", "--output-dir", type=Path, default=Path(DEFAULT_DIR), metavar="DIR",
                   help=f"where the trace JSON and reports are written (default {DEFAULT_DIR})")
    p.add_argument("--outputs", default=DEFAULT_OUTPUTS, metavar="LIST",
                   help=f"comma-separated: console, json, html, md, text, har (default {DEFAULT_OUTPUTS})")
    p.add_argument("--ca-cert", action="append", type=Path, default=[], metavar="FILE",
                   help="a CA (PEM) to trust for UPSTREAM besides the system store. Repeatable")
    p.add_argument("--print-config", choices=CONFIGS, metavar="|".join(CONFIGS),
                   help="print the client configuration that uses this mirror, and exit")
    p.set_defaults(func=run)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen {text}: give HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]") or "0.0.0.0", int(port)


def check_free(host: str, port: int) -> None:
    """One line naming who holds the port, before mitmproxy tries it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                from pulltrace.lab.ports import listener

                who = listener(port)
                held = who.describe() if who else f"port {port} is already in use"
                raise UserError(f"--listen {host}:{port}: {held}; choose another port") from None
            raise UserError(f"--listen {host}:{port}: {e.strerror or e}") from None


def run(args: argparse.Namespace) -> int:
    upstream = parse_upstream(args.upstream)
    host, port = parse_listen(args.listen)
    if args.print_config:
        print(print_config(args.print_config, upstream, args.listen), end="")
        return 0
    for path in args.ca_cert:
        if not path.is_file():
            raise UserError(f"--ca-cert {path}: no such file")
    check_free(host, port)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return serve_mirror(upstream, host, port, out=str(args.output_dir), outputs=args.outputs,
                            ca_certs=tuple(args.ca_cert), stop=stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
