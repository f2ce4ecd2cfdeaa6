"""`pulltrace report` and `pulltrace show` (recorded traffic -> a trace or a report; the same
flags, the same reading) and `pulltrace addon-path`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulltrace.capture.logs import FORMATS as LOG_FORMATS
from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit
from pulltrace.commands.output import check_writable, chosen_format, emit
from pulltrace.commands.vocabulary import add_view_options, command_parser
from pulltrace.errors import UserError
from pulltrace.render.outputs import FLEET_OF, FORMATS, render

_DESCRIPTION = (
    "Classify recorded traffic (mitmdump -w flow files, HAR 1.2, pulltrace trace JSON; several files "
    "are merged in wire order) exactly as the live addon does, and write a view of it: the step tables "
    "(text), Markdown, an HTML report, the trace JSON or a HAR. Secrets are masked unless --show-secrets."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    report = command_parser(
        subparsers, "report",
        help="build a trace or report from mitmproxy flow files, HAR or trace JSON",
        description=_DESCRIPTION,
        examples=[
            "pulltrace report capture.flow                       # step tables on the terminal",
            "pulltrace report capture.flow -o pull.html          # the format follows the suffix",
            "pulltrace report a.har b.har --format json -o merged.json",
            "pulltrace report trace.json --format har -o pull.har",
            "pulltrace report node-*/pulltrace.jsonl*          # several nodes: the fleet view",
        ],
    )
    show = command_parser(
        subparsers, "show",
        help="the same as report: show a trace as tables, Markdown or an HTML report",
        description=_DESCRIPTION + " `show` and `report` are one command under two names.",
        examples=[
            "pulltrace show trace.json --wide",
            "pulltrace show trace.json --lang zh",
            "pulltrace show trace.json --explain -o handout.html   # every step explained, prints on A4",
            "pulltrace show capture.flow --format md -o pull.md",
        ],
    )
    for parser in (report, show):
        parser.add_argument("files", nargs="+", metavar="FILE",
                            help="flow file, HAR, trace JSON or pulltrace.jsonl (several are merged; "
                                 "pulltrace.jsonl files of several nodes make the fleet view)")
        add_view_options(parser, FORMATS, default=None)
        parser.add_argument("--log-format", metavar="NAME", choices=sorted(LOG_FORMATS),
                            help="read every FILE as this log format instead of recognising it: "
                            + ", ".join(LOG_FORMATS))
        parser.add_argument("--explain", action="store_true",
                            help="teaching mode: one or two plain sentences under each step, the questions the "
                                 "trace answers, and a glossary (text, md, html; the HTML prints as an A4 handout)")
        parser.set_defaults(func=run_report)

    path = command_parser(
        subparsers, "addon-path",
        help="print the path of the mitmproxy addon file",
        description='Print the addon file to pass to mitmproxy: mitmdump -s "$(pulltrace addon-path)"',
        examples=['mitmdump -s "$(pulltrace addon-path)" --set pulltrace_dir=out'],
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
        raise UserError(f"no registry traffic in {', '.join(args.files)}; nothing to report")
    if args.format is None and len({s.node for s in trace.sessions}) > 1:
        fmt = FLEET_OF.get(fmt, fmt)  # pulltrace.jsonl files of several nodes: the fleet view
    emit(render(trace, fmt, lang=args.lang, wide=args.wide, show_secrets=args.show_secrets, explain=args.explain),
         args.output)
    return Exit.OK
