"""The `pulltrace` command: one subcommand per job, each in its own module of this package."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum

from pulltrace import __version__
from pulltrace.errors import UserError


class Exit(IntEnum):
    """Exit statuses, the same for every subcommand (listed at the end of every --help)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def fail(message: str) -> int:
    print(f"pulltrace: {message}", file=sys.stderr)
    return Exit.FAILURE


# Each subcommand module exposes `register(subparsers)`; it sets `func` on its parser.
# Only the module of the command being run is imported, so `pulltrace pull` does not
# pay for mitmproxy, jinja2 and the doctor at start-up; --help imports them all.
COMMANDS = {
    "report": "pulltrace.commands.report",
    "addon-path": "pulltrace.commands.report",
    "pull": "pulltrace.commands.pull",
    "show": "pulltrace.commands.report",
    "diff": "pulltrace.commands.diff",
    "doctor": "pulltrace.commands.doctor",
    "lab": "pulltrace.commands.lab",
    "gallery": "pulltrace.commands.gallery",
    "completion": "pulltrace.commands.completion",
}


def _registrars(command: str | None) -> list[Callable[[argparse._SubParsersAction], None]]:
    names = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    return [importlib.import_module(name).register for name in names]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    from pulltrace.commands.vocabulary import EXIT_CODES

    parser = argparse.ArgumentParser(
        prog="pulltrace",
        description="Show, step by step, what happens on the wire when a container image is pulled.",
        epilog="examples:\n"
               '  mitmdump -s "$(pulltrace addon-path)"        # capture pulls through mitmproxy\n'
               "  pulltrace report capture.flow -o pull.html  # a report from a recorded capture\n"
               "  pulltrace doctor registry.example.com/team/app\n"
               "  pulltrace COMMAND --help                    # every command's flags and examples\n\n"
               + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pulltrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars(command):
        register(sub)
    return parser


def _subcommand_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of `command` (the one whose usage a wrong flag should show), else the top one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if "_ARGCOMPLETE" in os.environ:
        from pulltrace.commands.completion import complete

        complete(build_parser())  # exits: the shell asked for completions, not for a run
    parser = build_parser(command)
    args, extras = parser.parse_known_args(argv)
    if extras:
        _subcommand_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(extras)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return Exit.USAGE
    try:
        return int(args.func(args))
    except UserError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        print("pulltrace: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
