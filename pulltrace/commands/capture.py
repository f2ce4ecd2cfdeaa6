"""`pulltrace capture -- COMMAND`: run one command through mitmproxy and trace its pulls."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulltrace.capture.wrapper import DEFAULT_DIR, DEFAULT_OUTPUTS, CaptureOptions, run_capture
from pulltrace.commands.vocabulary import command_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    p = command_parser(
        subparsers, "capture",
        help="run a command (skopeo, podman, ctr, crane, curl, docker …) through mitmproxy and trace its pulls",
        description="Run COMMAND with mitmproxy and the pulltrace addon between it and the registry: the proxy "
                    "and its CA are set for COMMAND alone (nothing is left trusting it afterwards), a docker "
                    "command runs against a throwaway dockerd started with the proxy. Prints each pull's step "
                    "table, writes the outputs, and exits with COMMAND's status (1 for a one-line error of "
                    "pulltrace's own).",
        examples=[
            "pulltrace capture -- skopeo inspect docker://registry.example/team/app",
            "pulltrace capture -o out --outputs console,json,md -- podman pull alpine",
            "sudo -E pulltrace capture --load -- docker pull alpine",
            "pulltrace capture --ca-cert private-ca.pem -- ctr images pull registry.internal/app:1.0",
        ],
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
