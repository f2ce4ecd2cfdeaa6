"""`pulltrace capture -- COMMAND`: run one command through mitmproxy and trace its pulls."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulltrace.capture.wrapper import DEFAULT_DIR, DEFAULT_OUTPUTS, CaptureOptions, run_capture


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "capture",
        help="run a command (skopeo, podman, ctr, crane, curl, docker …) through mitmproxy and trace its pulls",
        description="Run COMMAND with mitmproxy and the pulltrace addon between it and the registry: the proxy "
                    "and its CA are set for COMMAND alone (nothing is left trusting it afterwards), a docker "
                    "command runs against a throwaway dockerd started with the proxy. Prints each pull's step "
                    "table, writes the outputs, and exits with COMMAND's status.",
    )
    p.add_argument("-o", "--output-dir", type=Path, default=Path(DEFAULT_DIR), metavar="DIR",
                   help=f"where the trace JSON and reports are written (default {DEFAULT_DIR})")
    p.add_argument("--outputs", default=DEFAULT_OUTPUTS, metavar="LIST",
                   help=f"comma-separated: console, json, html, md, text, har (default {DEFAULT_OUTPUTS})")
    p.add_argument("--ca-cert", action="append", type=Path, default=[], metavar="FILE",
                   help="a CA (PEM) mitmproxy trusts upstream besides the system store, for a private "
                        "registry. Repeatable")
    p.add_argument("--load", action="store_true",
                   help="docker: load what the throwaway daemon pulled into your docker daemon")
    p.add_argument("--docker-root", type=Path, metavar="DIR",
                   help="docker: where the throwaway daemon keeps its data (default: a temporary directory)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS…]",
                   help="the command to capture")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    return run_capture(CaptureOptions(command=command, out=args.output_dir, outputs=args.outputs,
                                      ca_certs=tuple(args.ca_cert), load=args.load, docker_root=args.docker_root))
