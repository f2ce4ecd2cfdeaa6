"""`pulltrace report` (recorded traffic -> trace and reports) and `pulltrace addon-path`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulltrace.capture.logs import FORMATS as LOG_FORMATS
from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit
from pulltrace.commands.output import check_writable, chosen_format, emit
from pulltrace.errors import UserError
from pulltrace.render.outputs import FORMATS, render


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
    report.add_argument("--log-format", metavar="NAME", choices=sorted(LOG_FORMATS),
                        help="read every FILE as this log format instead of recognising it: "
                        + ", ".join(LOG_FORMATS))
    report.set_defaults(func=run_report)

    path = subparsers.add_parser(
        "addon-path",
        help="print the path of the mitmproxy addon file",
        description='Print the addon file to pass to mitmproxy: mitmdump -s "$(pulltrace addon-path)"',
    )
    path.set_defaults(func=run_addon_path)


def addon_path() -> Path:
    """The addon file that ships inside the package (`mitmdump -s "$(pulltrace addon-path)"`)."""
    from pulltrace.capture import script

    return Path(script.__file__).resolve()


def run_addon_path(args: argparse.Namespace) -> int:
    print(addon_path())
    return Exit.OK


def run_report(args: argparse.Namespace) -> int:
    fmt = chosen_format(args.format, args.output)
    check_writable(args.output)
    trace = load_trace(args.files, show_secrets=args.show_secrets, log_format=args.log_format)
    if not trace.sessions:
        raise UserError(f"no HTTP exchanges in {', '.join(args.files)}; nothing to report")
    emit(render(trace, fmt), args.output)
    return Exit.OK
