"""`pulltrace pull`: pull an image with the built-in client and keep the trace of its requests."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulltrace.client.download import DEFAULT_JOBS
from pulltrace.client.errors import PullError
from pulltrace.client.writers import FORMATS, OutputError, check_output
from pulltrace.commands.main import Exit
from pulltrace.commands.options import add_connection_options, connection_options, platform_arg, reference_arg
from pulltrace.commands.vocabulary import command_parser
from pulltrace.errors import UserError
from pulltrace.model import write_atomically
from pulltrace.reference import ImageReference


def register(subparsers: argparse._SubParsersAction) -> None:
    p = command_parser(
        subparsers, "pull",
        help="pull an image with the built-in client and record every request it makes",
        description="Pull an image the way dockerd does (ping, token, HEAD by tag, GET by digest, "
                    "blobs with redirects), write it for `docker load` or as an OCI layout, and keep "
                    "a trace of every request.",
        examples=[
            "pulltrace pull alpine                      # docker.io/library/alpine:latest → alpine_latest.tar",
            "pulltrace pull ghcr.io/org/app:1.2 --platform linux/arm64 -o app.tar",
            "pulltrace pull registry.example.com/team/app --save-trace app.json --save-report app.html",
            "pulltrace pull team/app -u alice --password-stdin < pass.txt --format oci -o app-oci",
        ],
    )
    p.add_argument("reference", metavar="REF", help="image reference, normalised like docker (alpine → "
                   "docker.io/library/alpine:latest)")
    p.add_argument("-o", "--output", type=Path, help="where to write the image (default: <name>_<tag>.tar, "
                   "or a directory for --format oci); `-o -` or --no-output writes none")
    p.add_argument("--no-output", action="store_true", help="fetch and verify only; write no image")
    p.add_argument("--format", choices=FORMATS, default="docker-archive",
                   help="docker-archive (a `docker load` tar; default), oci (an OCI layout directory) "
                        "or oci-archive (the same layout in a tar)")
    p.add_argument("--platform", help="os/arch[/variant] to pick from a multi-platform image "
                   "(default: this machine's)")
    p.add_argument("-j", "--jobs", type=int, default=DEFAULT_JOBS,
                   help=f"blobs downloaded at once (default {DEFAULT_JOBS}, as dockerd)")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="content-addressed blob cache (default ~/.cache/pulltrace/blobs)")
    add_connection_options(p)
    p.add_argument("--save-trace", type=Path, metavar="FILE", help="also write the trace JSON here")
    p.add_argument("--save-report", type=Path, metavar="FILE", help="also write the HTML report here")
    p.add_argument("--show-secrets", action="store_true",
                   help="keep tokens and credentials unmasked in --save-trace/--save-report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def default_output(ref: ImageReference, fmt: str) -> Path:
    name = ref.repository.rsplit("/", 1)[-1]
    tag = ref.tag or (ref.digest or "").replace(":", "-")[:19]
    return Path(f"{name}_{tag}" + ("" if fmt == "oci" else ".tar"))


def _options(args: argparse.Namespace):
    from pulltrace.client.pull import PullOptions

    ref = reference_arg(args.reference)
    platform = platform_arg(args.platform)
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    connection = connection_options(args)
    output = None
    if not args.no_output and str(args.output) != "-":
        output = args.output or default_output(ref, args.format)
        try:
            check_output(output, args.format)
        except OutputError as e:
            raise UserError(str(e)) from None
    return PullOptions(
        reference=ref, output=output, fmt=args.format, platform=platform, jobs=args.jobs,
        cache_dir=args.cache, **connection, quiet=args.quiet,
    )


def run(args: argparse.Namespace) -> int:
    from pulltrace.client.pull import Puller

    options = _options(args)
    try:
        puller = Puller(options)
    except PullError as e:
        raise UserError(str(e)) from None
    error: PullError | None = None
    result = None
    try:
        try:
            result = puller.run()
        except PullError as e:
            error = e
        except KeyboardInterrupt:
            puller.stop.set()
            _write_outputs(args, puller, "interrupted")
            raise
        _write_outputs(args, puller, str(error) if error else None)
    finally:
        puller.close()
    if error is not None or result is None:
        raise UserError(str(error))
    print(result.summary_line())
    return Exit.OK


def _write_outputs(args: argparse.Namespace, puller, error: str | None) -> None:
    """The trace and report, also after a failure: a failed pull is what they explain best."""
    if not (args.save_trace or args.save_report):
        return
    trace = puller.trace(show_secrets=args.show_secrets, error=error)
    from pulltrace.redact import mask_trace
    from pulltrace.render.outputs import render

    if not args.show_secrets:
        trace = mask_trace(trace)  # the dispatcher's final pass, once for both files
    if args.save_trace:
        write_atomically(args.save_trace, render(trace, "json", show_secrets=True))
    if args.save_report:
        write_atomically(args.save_report, render(trace, "html", show_secrets=True))
