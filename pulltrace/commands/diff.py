"""`pulltrace diff`: two traces aligned step by step, as text, Markdown or HTML."""

from __future__ import annotations

import argparse

from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit
from pulltrace.commands.output import check_writable, chosen_format, emit
from pulltrace.commands.vocabulary import add_view_options, command_parser
from pulltrace.render.diff import diff_traces
from pulltrace.render.diff_render import render_diff_html, render_diff_markdown, render_diff_text

FORMATS = ("text", "md", "html")


def register(subparsers: argparse._SubParsersAction) -> None:
    diff = command_parser(
        subparsers, "diff",
        help="compare two traces step by step",
        description="Align two traces step by step and show what differs: steps only in one, "
        "statuses, hosts, headers, bytes and time.",
        examples=[
            "pulltrace diff docker.json client.json",
            "pulltrace diff before.flow after.flow --format html -o diff.html",
        ],
    )
    diff.add_argument("a", metavar="A", help="first trace (trace JSON, HAR or flow file)")
    diff.add_argument("b", metavar="B", help="second trace")
    add_view_options(diff, FORMATS, default=None)
    diff.set_defaults(func=run_diff)


def run_diff(args: argparse.Namespace) -> int:
    fmt = chosen_format(args.format, args.output)
    check_writable(args.output)
    a = load_trace([args.a], show_secrets=args.show_secrets)
    b = load_trace([args.b], show_secrets=args.show_secrets)
    d = diff_traces(a, b, lang=args.lang, label_a=args.a, label_b=args.b)
    if fmt == "html":
        text = render_diff_html(d)
    elif fmt == "md":
        text = render_diff_markdown(d)
    else:
        text = render_diff_text(d, wide=args.wide)
    emit(text, args.output)
    return Exit.OK
