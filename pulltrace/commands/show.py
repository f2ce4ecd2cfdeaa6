"""`pulltrace show` and `pulltrace diff`: the report views on the command line."""

from __future__ import annotations

import argparse

from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit
from pulltrace.commands.output import check_writable, emit
from pulltrace.render.diff import diff_traces
from pulltrace.render.diff_render import render_diff_html, render_diff_markdown, render_diff_text
from pulltrace.render.i18n import LANGUAGES
from pulltrace.render.outputs import render

FORMATS = ("text", "md", "html")


def register(subparsers: argparse._SubParsersAction) -> None:
    show = subparsers.add_parser(
        "show",
        help="show a trace as tables, Markdown or an HTML report",
        description="Show a trace (trace JSON, HAR or mitmproxy flow file) step by step.",
    )
    show.add_argument("file", metavar="FILE", help="trace JSON, HAR 1.2 or mitmproxy flow file")
    _common(show)
    show.set_defaults(func=run_show)

    diff = subparsers.add_parser(
        "diff",
        help="compare two traces step by step",
        description="Align two traces step by step and show what differs: steps only in one, "
        "statuses, hosts, headers, bytes and time.",
    )
    diff.add_argument("a", metavar="A", help="first trace (trace JSON, HAR or flow file)")
    diff.add_argument("b", metavar="B", help="second trace")
    _common(diff)
    diff.set_defaults(func=run_diff)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wide", action="store_true",
                        help="text: full URLs and every column, not fitted to 80 columns")
    parser.add_argument("--lang", choices=LANGUAGES, default="en", help="label language (default: en)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("-o", "--output", metavar="OUT", help="write to OUT (atomically) instead of standard output")


def run_show(args: argparse.Namespace) -> int:
    check_writable(args.output)
    trace = load_trace([args.file])
    emit(render(trace, args.format, wide=args.wide, lang=args.lang), args.output)
    return Exit.OK


def run_diff(args: argparse.Namespace) -> int:
    check_writable(args.output)
    a, b = load_trace([args.a]), load_trace([args.b])
    d = diff_traces(a, b, lang=args.lang, label_a=args.a, label_b=args.b)
    if args.format == "html":
        text = render_diff_html(d)
    elif args.format == "md":
        text = render_diff_markdown(d)
    else:
        text = render_diff_text(d, wide=args.wide)
    emit(text, args.output)
    return Exit.OK
