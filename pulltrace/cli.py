"""The `pulltrace` command: one subcommand per job, each in the module that owns it."""

from __future__ import annotations

import argparse
import importlib
import sys
from enum import IntEnum
from typing import Callable, Sequence

from pulltrace import __version__


class Exit(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line, never a traceback."""


def fail(message: str) -> int:
    print(f"pulltrace: {message}", file=sys.stderr)
    return Exit.FAILURE


# Each subcommand module exposes `register(subparsers)`; it sets `func` on its parser.
_COMMAND_MODULES = (
    "pulltrace.capture.cli",  # report, addon-path
    "pulltrace.client.cli",  # pull
    "pulltrace.render.cli",  # show, diff
    "pulltrace.diagnose.cli",  # doctor
    "pulltrace.lab.cli",  # lab
)


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    found = []
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                continue
            raise
        found.append(module.register)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulltrace",
        description="Show, step by step, what happens on the wire when a container image is pulled.",
    )
    parser.add_argument("--version", action="version", version=f"pulltrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
