"""`pulltrace report` (offline captures -> trace and reports) and `pulltrace addon-path`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pulltrace.capture.importers import CaptureFormatError, load_exchanges
from pulltrace.capture.outputs import FORMATS, format_for, render
from pulltrace.cli import Exit
from pulltrace.errors import UserError
from pulltrace.model import write_atomically
from pulltrace.pipeline import build_trace


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="build a trace and report from mitmproxy flow files, HAR or trace JSON",
        description="Classify recorded traffic (mitmdump -w flow files, HAR 1.2, pulltrace trace JSON) "
        "exactly as the live addon does, and write the trace or a report. Secrets are masked "
        "unless --show-secrets.",
    )
    report.add_argument("files", nargs="+", metavar="FILE", help="flow file, HAR or trace JSON (several are merged)")
    report.add_argument("-o", "--output", metavar="OUT",
                        help="write to OUT (atomically); the format follows its suffix unless --format")
    report.add_argument("--format", choices=FORMATS, help="json, html, md, text or har (default: text, or "
                        "from OUT's suffix)")
    report.add_argument("--show-secrets", action="store_true",
                        help="keep tokens, credentials and URL signatures (a HAR masks them regardless)")
    report.set_defaults(func=run_report)

    path = subparsers.add_parser(
        "addon-path",
        help="print the path of the mitmproxy addon file",
        description='Print the addon file to pass to mitmproxy: mitmdump -s "$(pulltrace addon-path)"',
    )
    path.set_defaults(func=run_addon_path)


def addon_path() -> Path:
    from pulltrace.capture import script

    return Path(script.__file__).resolve()


def run_addon_path(args: argparse.Namespace) -> int:
    print(addon_path())
    return Exit.OK


def run_report(args: argparse.Namespace) -> int:
    fmt = args.format or (format_for(args.output) if args.output and args.output != "-" else None) or "text"
    if args.output and args.output != "-" and Path(args.output).is_dir():
        raise UserError(f"{args.output} is a directory; give a file name for -o")
    exchanges = []
    for name in args.files:
        try:
            exchanges.extend(load_exchanges(name, show_secrets=args.show_secrets))
        except CaptureFormatError as e:
            raise UserError(str(e)) from None
    if not exchanges:
        raise UserError(f"no HTTP exchanges in {', '.join(args.files)}; nothing to report")
    trace = build_trace(exchanges, source=", ".join(Path(n).name for n in args.files))
    text = render(trace, fmt)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            write_atomically(args.output, text)
        except OSError as e:
            raise UserError(f"cannot write {args.output}: {e.strerror}") from None
    return Exit.OK
