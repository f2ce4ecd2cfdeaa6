"""`pulltrace doctor`: pull with the built-in client (or read a capture) and say what went wrong.

Exit status 0 when the pull is healthy, 1 when any finding is an error.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit
from pulltrace.commands.options import add_connection_options, connection_options, platform_arg, reference_arg
from pulltrace.diagnose.base import finding
from pulltrace.diagnose.present import format_trace_findings
from pulltrace.diagnose.transport import no_traffic_finding
from pulltrace.errors import UserError
from pulltrace.model import Finding, Severity, Trace, write_atomically

if TYPE_CHECKING:
    import httpx


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="pull an image (or read a capture) and explain what went wrong and how to fix it",
        description="Pull REF with the built-in client, recording every request, then name the cause and the "
                    "fix of each problem found: auth, tokens and scopes, tags and platforms, TLS and plain "
                    "HTTP, CDN redirects, rate limits, mirrors. With --trace, diagnose an existing trace JSON, "
                    "HAR or mitmproxy flow file instead. Exit status 1 when any finding is an error.",
    )
    p.add_argument("reference", nargs="?", metavar="REF",
                   help="image reference, normalised like docker (alpine → docker.io/library/alpine:latest)")
    p.add_argument("--trace", type=Path, metavar="FILE",
                   help="diagnose this trace JSON, HAR or mitmproxy flow file instead of pulling")
    p.add_argument("--steps", action="store_true", help="print the step table before the findings")
    p.add_argument("--wide", action="store_true", help="with --steps: do not abridge to 80 columns")
    p.add_argument("--platform", help="os/arch[/variant] wanted from a multi-platform image (default: this "
                   "machine's); with --trace, the platform the client asked for")
    add_connection_options(p)
    p.add_argument("--save-trace", type=Path, metavar="FILE", help="also write the diagnosed trace JSON here")
    p.add_argument("--show-secrets", action="store_true",
                   help="keep tokens unmasked in --save-trace (claims are read either way)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, *, http_transport: httpx.BaseTransport | None = None) -> int:
    """The doctor; `http_transport` replaces the client's network (tests slow it down)."""
    if bool(args.reference) == bool(args.trace):
        raise UserError("give an image reference to pull, or --trace FILE to diagnose a capture (one of them)")
    wanted = _platform(args.platform)
    client_failure: Finding | None = None
    if args.trace:
        trace = load_trace([args.trace], show_secrets=args.show_secrets, wanted_platform=wanted)
    else:
        trace, client_failure = _pull(args, wanted, http_transport)
    wire_error = any(f.severity == Severity.ERROR for s in trace.sessions for f in s.findings)
    extra: list[Finding] = []
    if client_failure is not None and not wire_error:
        extra.append(client_failure)  # the wire alone does not show why the client stopped
    if args.trace and not trace.sessions:
        extra.append(no_traffic_finding())
    if args.save_trace:
        write_atomically(args.save_trace, trace.to_json() + "\n")
    out = sys.stdout
    if args.steps:
        from pulltrace.render.outputs import render

        # The table without the findings: they follow below, with their rules and step numbers.
        table = copy.deepcopy(trace)
        for session in table.sessions:
            session.findings = []
        out.write(render(table, "text", wide=args.wide))
        out.write("\n")
    colour = out.isatty() and not os.environ.get("NO_COLOR")
    out.write(format_trace_findings(trace, colour=colour, extra=extra))
    failed = wire_error or any(f.severity == Severity.ERROR for f in extra)
    return Exit.FAILURE if failed else Exit.OK


def _platform(text: str | None) -> str | None:
    platform = platform_arg(text)
    return str(platform) if platform else None


def _pull(args: argparse.Namespace, wanted: str | None,
          http_transport: httpx.BaseTransport | None = None) -> tuple[Trace, Finding | None]:
    """Pull with the built-in client into a throwaway cache, so every blob goes over the wire.

    Returns the trace, diagnosed for the platform the pull wanted, and a finding for the
    client's own error (if it failed).
    """
    from pulltrace.client.errors import PullError
    from pulltrace.client.pull import Puller, host_default_platform

    with tempfile.TemporaryDirectory(prefix="pulltrace-doctor-") as cache:
        options = _options(args, Path(cache))
        try:
            puller = Puller(options, http_transport=http_transport)
        except PullError as e:
            raise UserError(str(e)) from None
        error: PullError | None = None
        try:
            try:
                puller.run()
            except PullError as e:
                error = e
            trace = puller.trace(show_secrets=args.show_secrets, error=str(error) if error else None,
                                 wanted_platform=wanted or str(host_default_platform()))
        finally:
            puller.close()
    failure = None
    if error is not None:
        failure = finding(
            "pull.client-error",
            Severity.ERROR,
            "The pull failed",
            f"pulltrace's client stopped with: {error}",
            "Read the steps (`--steps`) for the last exchange before it stopped.",
            [],
        )
    return trace, failure


def _options(args: argparse.Namespace, cache: Path):
    from pulltrace.client.pull import PullOptions

    ref = reference_arg(args.reference)
    return PullOptions(
        reference=ref, output=None, platform=platform_arg(args.platform), cache_dir=cache,
        **connection_options(args), quiet=True,
    )
