"""The `pulltrace` command: one subcommand per job, each in its own module of this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum

from pulltrace import __version__
from pulltrace.errors import UserError


class Exit(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2


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
    "show": "pulltrace.commands.show",
    "diff": "pulltrace.commands.show",
    "doctor": "pulltrace.commands.doctor",
    "lab": "pulltrace.commands.lab",
    "capture": "pulltrace.commands.capture",
    "mirror": "pulltrace.commands.mirror",
}


def _registrars(command: str | None) -> list[Callable[[argparse._SubParsersAction], None]]:
    names = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    return [importlib.import_module(name).register for name in names]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulltrace",
        description="Show, step by step, what happens on the wire when a container image is pulled.",
    )
    parser.add_argument("--version", action="version", version=f"pulltrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars(command):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return Exit.USAGE
    try:
        return int(args.func(args))
    except UserError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return fail("interrupted")
