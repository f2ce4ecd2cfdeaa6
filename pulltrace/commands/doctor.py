"""`pulltrace doctor`: pull with the built-in client (or read a capture) and say what went wrong.

Exit status 0 when the pull is healthy, 1 when any finding is an error.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit
from pulltrace.commands.options import add_connection_options, connection_options, platform_arg, reference_arg
from pulltrace.commands.vocabulary import add_color_option, colour_wanted, command_parser
from pulltrace.diagnose.base import finding
from pulltrace.diagnose.present import format_trace_findings
from pulltrace.diagnose.transport import no_traffic_finding
from pulltrace.errors import UserError
from pulltrace.model import Finding, Severity, Trace, write_atomically
from pulltrace.redact import mask_trace, mask_value

if TYPE_CHECKING:
    import httpx


def register(subparsers: argparse._SubParsersAction) -> None:
    p = command_parser(
        subparsers, "doctor",
        help="pull an image (or read a capture) and explain what went wrong and how to fix it",
        description="Pull REF with the built-in client, recording every request, then name the cause and the "
                    "fix of each problem found: auth, tokens and scopes, tags and platforms, TLS and plain "
                    "HTTP, CDN redirects, rate limits, mirrors. With --capture, diagnose a recorded pull "
                    "(trace JSON, HAR or mitmproxy flow file) instead. Exit status 1 when any finding is an error.",
        examples=[
            "pulltrace doctor registry.example.com/team/app -u alice --password-stdin < pass.txt",
            "pulltrace doctor --capture pull.flow --steps      # a pull recorded by mitmdump -w",
            "pulltrace doctor alpine --json | jq '.findings[].rule'",
        ],
    )
    p.add_argument("reference", nargs="?", metavar="REF",
                   help="image reference, normalised like docker (alpine → docker.io/library/alpine:latest)")
    p.add_argument("--capture", type=Path, metavar="FILE",
                   help="diagnose this recorded pull (trace JSON, HAR or mitmproxy flow file) instead of pulling")
    # The spelling of earlier releases; it reads a capture as --capture does.
    p.add_argument("--trace", dest="capture", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--steps", action="store_true", help="print the step table before the findings")
    p.add_argument("--wide", action="store_true", help="with --steps: do not abridge to 80 columns")
    p.add_argument("--platform", help="os/arch[/variant] wanted from a multi-platform image (default: this "
                   "machine's); with --capture, the platform the client asked for")
    add_connection_options(p)
    p.add_argument("--save-trace", type=Path, metavar="FILE", help="also write the diagnosed trace JSON here")
    p.add_argument("--show-secrets", action="store_true",
                   help="keep tokens unmasked in --save-trace (claims are read either way)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON instead of text")
    add_color_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, *, http_transport: httpx.BaseTransport | None = None) -> int:
    """The doctor; `http_transport` replaces the client's network (tests slow it down)."""
    if bool(args.reference) == bool(args.capture):
        raise UserError("give an image reference to pull, or --capture FILE to diagnose a recorded pull "
                        "(one of them)")
    if args.json and args.steps:
        raise UserError("--steps prints a table; it cannot be combined with --json")
    wanted = _platform(args.platform)
    client_failure: Finding | None = None
    if args.capture:
        trace = load_trace([args.capture], show_secrets=args.show_secrets, wanted_platform=wanted)
    else:
        trace, client_failure = _pull(args, wanted, http_transport)
    wire_error = any(f.severity == Severity.ERROR for s in trace.sessions for f in s.findings)
    extra: list[Finding] = []
    if client_failure is not None and not wire_error:
        extra.append(client_failure)  # the wire alone does not show why the client stopped
    if args.capture and not trace.sessions:
        extra.append(no_traffic_finding())
    if not args.show_secrets:
        # Findings quote headers and URLs: the final masking pass covers what they say too.
        trace = mask_trace(trace)
        extra = [mask_value(f) for f in extra]
    if args.save_trace:
        write_atomically(args.save_trace, trace.to_json() + "\n")
    failed = wire_error or any(f.severity == Severity.ERROR for f in extra)
    out = sys.stdout
    if args.json:
        out.write(json.dumps(findings_document(trace, extra, failed), indent=2, ensure_ascii=False) + "\n")
        return Exit.FAILURE if failed else Exit.OK
    if args.steps:
        from pulltrace.render.outputs import render

        # The table without the findings: they follow below, with their rules and step numbers.
        table = copy.deepcopy(trace)
        for session in table.sessions:
            session.findings = []
        out.write(render(table, "text", wide=args.wide, show_secrets=True))  # masked above, unless asked not to
        out.write("\n")
    out.write(format_trace_findings(trace, colour=colour_wanted(args.color, out), extra=extra))
    return Exit.FAILURE if failed else Exit.OK


def findings_document(trace: Trace, extra: list[Finding], failed: bool) -> dict[str, Any]:
    """`doctor --json`: each pull with its findings, and the verdict the exit status gives."""

    def one(finding: Finding) -> dict[str, Any]:
        return {"rule": finding.rule, "severity": finding.severity.value, "title": finding.title,
                "cause": finding.cause, "fix": finding.fix, "steps": list(finding.steps)}

    return {
        "healthy": not failed,
        "sessions": [
            {"id": s.id, "action": s.action, "image": s.summary.image, "registry": s.summary.registry,
             "client": s.client, "findings": [one(f) for f in s.findings]}
            for s in trace.sessions
        ],
        "findings": [one(f) for s in trace.sessions for f in s.findings] + [one(f) for f in extra],
    }


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
